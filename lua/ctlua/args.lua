-- ctlua.args — option parsing for scripts: `--name value` and `--flag`, with a
-- usage text raised (as a load error, exit 1) on anything unknown or malformed.
--
--   local opt = require("ctlua.args").parse({...}, {
--     threshold = { "number", 20 }, hook = { "string" }, delete = { "flag" },
--     allow = { "list" } }, USAGE)
local M = {}

--- M.fail(msg, usage): raises a usage error: the user's, not the script's, so an
-- error object whose text (msg, then usage) the loader prints without a traceback.
function M.fail(msg, usage)
  local text = (msg ~= "" and msg .. "\n" or "") .. usage
  error(setmetatable({}, { __tostring = function() return text end }), 0)
end

function M.parse(argv, spec, usage)
  local opt = {}
  for name, s in pairs(spec) do
    if s[1] == "list" then opt[name] = {} elseif s[2] ~= nil then opt[name] = s[2] end
  end
  local i = 1
  local function fail(msg) M.fail(msg, usage) end
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w%-]+)$")
    if a == "--help" or a == "-h" then fail("") end
    local key = name and name:gsub("%-", "_")
    local s = key and spec[key]
    if not s then fail("unknown argument '" .. a .. "'") end
    if s[1] == "flag" then
      opt[key] = true
    else
      i = i + 1
      local v = argv[i]
      if v == nil then fail(a .. " needs a value") end
      if s[1] == "number" then
        v = tonumber(v)
        if not v then fail(a .. " needs a number") end
        opt[key] = v
      elseif s[1] == "list" then
        opt[key][#opt[key] + 1] = v
      else
        opt[key] = v
      end
    end
    i = i + 1
  end
  return opt
end

return M
