-- ctlua.args — option parsing for scripts, as getopt_long tools do it: `--name
-- value`, `--name=value`, `--flag`, positional arguments, and `--help`.
--
--   local opt = require("ctlua.args").parse({...}, {
--     threshold = { "number", 20, help = "alerts above this" }, hook = { "string" },
--     delete = { "flag" }, allow = { "list" },
--     port = { "number", positional = 1, required = true } }, USAGE)
--
-- Each spec entry: { kind, default, help =, meta =, required =, positional = }; kind
-- "number", "string", "flag" or "list" (repeatable). --help prints USAGE, the
-- script's one-line summary and every option with its meaning and default, then
-- ctlua exits 0. A usage error is one line on stderr, no traceback, exit 2. A
-- meaning not given as help= is taken from the script's header comment, where
-- each option is documented as "--name ARG  meaning (default X)".
--
-- Why not Debian's lua-argparse: its parse() ends the process on --help or a bad
-- argument (os.exit, past ctlua's stop handlers, and fatal inside a SIGHUP
-- reload), and moving to it would change every script's declarations for what
-- this file does in 150 lines, with one more package to depend on.
local M = {}

-- The script that called into this module: its path ("@file" sources) and name.
local function caller()
  for level = 3, 12 do
    local info = debug.getinfo(level, "S")
    if not info then break end
    local src = info.source or ""
    if not src:match("ctlua/args%.lua$") then
      if src:sub(1, 1) == "@" then return src:sub(2), src:match("([^/]+)$") end
      return nil, src:match("^=(.*)") or "script"
    end
  end
  return nil, "script"
end

-- The raised value: an exit status the core honours (the user's error, not the
-- script's: no traceback), with its one line of text.
local function exit_with(code, text)
  error(setmetatable({ exit = code, message = text }, { __tostring = function() return text end }), 0)
end

--- M.fail(msg, usage): a usage error: "NAME: msg (-- --help lists the options)",
-- exit 2. usage is kept for the callers written before --help existed.
function M.fail(msg, usage)
  local _, name = caller()
  msg = tostring(msg):gsub("^" .. name:gsub("%p", "%%%0") .. ": ", "")
  exit_with(2, string.format("%s: %s (-- --help lists the options)", name, msg))
end

--- M.die(msg, status): ends loading with "NAME: msg", one line, no traceback, and
-- that exit status (3: a system error such as a sink that cannot be opened).
function M.die(msg, status)
  local _, name = caller()
  msg = tostring(msg):gsub("^" .. name:gsub("%p", "%%%0") .. ": ", "")
  exit_with(status or 1, name .. ": " .. msg)
end

-- The leading comment block of the script: { lines } without the "-- ".
local function header(path)
  local f = path and io.open(path, "r")
  if not f then return {} end
  local lines = {}
  for l in f:lines() do
    if l:sub(1, 2) ~= "--" then break end
    lines[#lines + 1] = l:gsub("^%-%-%s?", "")
  end
  f:close()
  return lines
end

-- From the header: the summary (first paragraph) and each documented option's
-- argument name and meaning: "--name ARG    meaning" with continuation lines.
local function documented(lines)
  local summary, doc = {}, {}
  for _, l in ipairs(lines) do
    if l:match("^%s*$") then break end
    summary[#summary + 1] = l
  end
  local cur, indent     -- the options' own indent: deeper lines continue one
  for _, l in ipairs(lines) do
    local ind, name, rest = l:match("^(%s+)%-%-([%w%-]+)(.*)$")
    if name and indent and #ind > indent and cur then name = nil end
    if name then
      indent = indent or #ind
      local meta, text = rest:match("^%s?(%S*)%s%s+(.-)%s*$")
      if not meta then meta, text = rest:match("^%s?(%S*)%s*$"), "" end
      cur = { meta = meta ~= "" and meta or nil, text = text }
      doc[name] = doc[name] or cur
    elseif cur and l:match("^%s%s%s%s+%S") and not l:match("^%s+ctlua ") then
      cur.text = cur.text .. " " .. l:match("^%s*(.-)%s*$")
    else
      cur = nil
    end
  end
  return table.concat(summary, " "), doc
end

local function optname(key) return (key:gsub("_", "-")) end

local function help(spec, usage, path)
  local summary, doc = documented(header(path))
  local names = {}
  for key in pairs(spec) do names[#names + 1] = key end
  -- in the order the usage line gives them, then the others by name
  local function at(key)
    local s = spec[key]
    if s.positional then return -1000 + s.positional end
    return (usage or ""):find("%-%-" .. optname(key):gsub("%-", "%%-") .. "%f[^%w%-]") or math.huge
  end
  table.sort(names, function(a, b)
    local x, y = at(a), at(b)
    if x ~= y then return x < y end
    return a < b
  end)
  local rows = {}
  for _, key in ipairs(names) do
    local s, d = spec[key], doc[optname(key)] or {}
    local left
    if s.positional then
      left = s.meta or key:upper()
    else
      local meta = s[1] ~= "flag" and (s.meta or d.meta or (s[1] == "number" and "N" or "VALUE")) or nil
      left = "--" .. optname(key) .. (meta and " " .. meta or "")
    end
    local text = s.help or d.text or ""
    if s[2] ~= nil and not text:find("default") then
      text = text .. (text ~= "" and " " or "") .. "(default " .. tostring(s[2]) .. ")"
    end
    if s[1] == "list" and not text:find("repeatable") then
      text = text .. (text ~= "" and " " or "") .. "(repeatable)"
    end
    if s.required and not text:find("required") then
      text = text .. (text ~= "" and " " or "") .. "(required)"
    end
    rows[#rows + 1] = { left, text }
  end
  rows[#rows + 1] = { "-h, --help", "this help" }
  local w = 0
  for _, r in ipairs(rows) do if #r[1] > w then w = #r[1] end end
  local out = { usage or "usage: ctlua SCRIPT -- [OPTIONS]" }
  if summary ~= "" then out[#out + 1] = summary end
  out[#out + 1] = ""
  for _, r in ipairs(rows) do
    out[#out + 1] = string.format("  %-" .. w .. "s  %s", r[1], r[2]):gsub("%s+$", "")
  end
  return table.concat(out, "\n") .. "\n"
end

--- M.parse(argv, spec, usage) -> options: spec's keys (dashes as underscores),
-- defaults filled in, lists as tables; positional arguments under their keys.
function M.parse(argv, spec, usage)
  local path = caller()
  local opt, positional = {}, {}
  for name, s in pairs(spec) do
    if s[1] == "list" then opt[name] = {} elseif s[2] ~= nil then opt[name] = s[2] end
    if s.positional then positional[s.positional] = name end
  end
  local function fail(msg) M.fail(msg, usage) end
  local function value(key, a, v)
    local s = spec[key]
    if s[1] == "number" then
      local n = tonumber(v)
      if not n then
        fail(string.format(a:sub(1, 1) == "-" and "option '%s' needs a number, not '%s'"
                           or "%s needs a number, not '%s'", a, v))
      end
      v = n
    end
    if s[1] == "list" then opt[key][#opt[key] + 1] = v else opt[key] = v end
  end
  local i, npos, rest = 1, 0, false
  while i <= #argv do
    local a = argv[i]
    local name, eq = a:match("^%-%-([%w][%w%-]*)=(.*)$")
    name = name or a:match("^%-%-([%w][%w%-]*)$")
    if not rest and (a == "--help" or a == "-h") then
      io.stdout:write(help(spec, usage, path))
      io.stdout:flush()
      exit_with(0, "")
    elseif not rest and a == "--" then
      rest = true
    elseif not rest and name then
      local key = name:gsub("%-", "_")
      local s = spec[key]
      if not s or s.positional then fail("unknown option '--" .. name .. "'") end
      if s[1] == "flag" then
        if eq then fail("option '--" .. name .. "' takes no argument") end
        opt[key] = true
      elseif eq then
        value(key, "--" .. name, eq)
      else
        i = i + 1
        if argv[i] == nil then fail("option '" .. a .. "' requires an argument") end
        value(key, a, argv[i])
      end
    elseif not rest and a:match("^%-.") and not tonumber(a) then
      fail("unknown option '" .. a .. "'")
    else
      npos = npos + 1
      local key = positional[npos]
      if not key then fail("unexpected argument '" .. a .. "'") end
      value(key, key:upper(), a)
    end
    i = i + 1
  end
  local keys = {}
  for key in pairs(spec) do keys[#keys + 1] = key end
  table.sort(keys, function(a, b) return (spec[a].positional or 0) < (spec[b].positional or 0) end)
  for _, key in ipairs(keys) do
    local s = spec[key]
    if s.required and opt[key] == nil then
      fail(s.positional and key:upper() .. " is required" or "--" .. optname(key) .. " is required")
    end
  end
  return opt
end

return M
