-- ctlua.ctfilter — conntrack's event filter options (conntrack -E ...) into a ctlua
-- handler filter, so that scripts take them as conntrack does and the kernel filter
-- applies (ctlua.kfilter derives it from the handler filters).
--
--   local cf, rest = require("ctlua.ctfilter").parse({...}, USAGE)
--   -- cf: nil when no such option was given, else
--   --   { filter = {...} | nil, events = {"new", "update", "destroy"} }
--   -- rest: the other arguments, in order, for ctlua.args.
--
-- Options, with conntrack's meanings (all of them must match):
--   -e, --event-mask NEW,UPDATES,DESTROY|ALL   which events (UPDATE too)
--   -p, --proto PROTO           name (/etc/protocols too) or number
--   -s, --src, --orig-src ADDR[/BITS]   original source (CIDR)
--   -d, --dst, --orig-dst ADDR[/BITS]   original destination
--   --sport, --orig-port-src N  original source port; --dport, --orig-port-dst N
--   -m, --mark MARK[/MASK]      (mark & MASK) == MARK
--   -w, --zone N                zone (an event without one is zone 0)
--   --state STATE               TCP state (LISTEN is SYN_SENT2)
--   -u, --status A,B            every one of these status bits set (conntrack -E
--                               refuses -u; conntrack -L takes it this way)
--   -n, --src-nat [ADDR[:PORT]] source-NATed (to that address/port)
--   -g, --dst-nat [ADDR[:PORT]] destination-NATed; both -n and -g: both
--   -j, --any-nat [ADDR[:PORT]] either (not with -n or -g)
--   -f, --family ipv4|ipv6
-- A wrong value raises a usage error (ctlua.args.fail) naming the option.

local args = require "ctlua.args"

local M = {}

local EVENTS = { NEW = { "new" }, UPDATES = { "update" }, UPDATE = { "update" },
                 DESTROY = { "destroy" }, ALL = { "new", "update", "destroy" } }

-- The names conntrack -u takes.
local STATUS = { EXPECTED = true, ASSURED = true, SEEN_REPLY = true, FIXED_TIMEOUT = true }

-- option name -> { key, takes: "value" | "optional" }
local OPTS = {}
local function opt(names, key, takes)
  for n in names:gmatch("%S+") do OPTS[n] = { key, takes or "value" } end
end
opt("-e --event-mask", "events")
opt("-p --proto", "proto")
opt("-s --src --orig-src", "src")
opt("-d --dst --orig-dst", "dst")
opt("--sport --orig-port-src", "sport")
opt("--dport --orig-port-dst", "dport")
opt("-m --mark", "mark")
opt("-w --zone", "zone")
opt("--state", "state")
opt("-u --status", "status")
opt("-n --src-nat", "src_nat", "optional")
opt("-g --dst-nat", "dst_nat", "optional")
opt("-j --any-nat", "any_nat", "optional")
opt("-f --family", "family")

local function number(s, what, usage, max)
  local n = math.tointeger(tonumber(s))
  if not n or n < 0 or n > max then args.fail(what .. ": bad number '" .. s .. "'", usage) end
  return n
end

--- M.parse(argv, usage) -> cf | nil, rest
function M.parse(argv, usage)
  local f, events, used, rest = {}, nil, false, {}
  local orig = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local o = OPTS[a]
    if not o then
      rest[#rest + 1] = a
    else
      used = true
      local key, takes = o[1], o[2]
      local v = argv[i + 1]
      if takes == "optional" then
        if v ~= nil and not v:match("^%-") then i = i + 1 else v = nil end
      elseif v == nil then
        args.fail(a .. " needs a value", usage)
      else
        i = i + 1
      end
      if key == "events" then
        events = {}
        local seen = {}
        for w in v:gmatch("[^,]+") do
          local e = EVENTS[w:upper()]
          if not e then args.fail(a .. ": bad event '" .. w .. "'", usage) end
          for _, name in ipairs(e) do
            if not seen[name] then seen[name] = true; events[#events + 1] = name end
          end
        end
      elseif key == "src" or key == "dst" then
        orig[key] = v
      elseif key == "sport" or key == "dport" then
        orig[key] = number(v, a, usage, 65535)
      elseif key == "mark" then
        local m, mask = v:match("^([^/]+)/(.+)$")
        if m then
          f.mark = { value = number(m, a, usage, 0xffffffff), mask = number(mask, a, usage, 0xffffffff) }
        else
          f.mark = number(v, a, usage, 0xffffffff)
        end
      elseif key == "zone" then
        f.zone = number(v, a, usage, 65535)
      elseif key == "status" then
        f.status = {}
        for w in v:gmatch("[^,]+") do
          if not STATUS[w:upper()] then args.fail(a .. ": bad status '" .. w .. "'", usage) end
          f.status[w:lower()] = true
        end
      elseif key == "src_nat" or key == "dst_nat" or key == "any_nat" then
        f[key] = v or true   -- ADDR[:PORT] is parsed by ctlua.filter
      elseif key == "family" then
        f.family = v:lower()
      else
        f[key] = v
      end
    end
    i = i + 1
  end
  if not used then return nil, rest end
  if f.any_nat ~= nil and (f.src_nat ~= nil or f.dst_nat ~= nil) then
    args.fail("-j (--any-nat) cannot be combined with -n or -g", usage)
  end
  if next(orig) then f.orig = orig end
  -- Compile now, so that a bad value is the user's usage error, not a load error.
  local ok, e = pcall(require("ctlua.filter").compile, f, "conntrack")
  if not ok then args.fail(tostring(e), usage) end
  return { filter = next(f) and f or nil, events = events or { "new", "update", "destroy" } }, rest
end

return M
