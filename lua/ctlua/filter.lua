-- ctlua.filter — compile a declarative filter table into a match function.
--
-- A filter is data, not code, so that it can later also be compiled into a kernel
-- socket filter. Semantics: every key must match (AND); a list value means any-of.
-- Plain tuple keys (src, dst, sport, dport, type, code) match the original direction
-- of conntrack events and the expected tuple of expectation events; `orig = {...}`,
-- `reply = {...}`, `tuple = {...}`, `master = {...}`, `mask = {...}` name a direction.
-- Addresses accept CIDR ("10.0.0.0/8", "fd00::/8"); an address of the other family
-- never matches.
-- M.init(env) once (ctlua.lua does): field names and protocol numbers from C.
-- Scripts may require it for M.compile.

local M = {}

local core            -- address primitives from the C core (set by M.init)

-- Keys that are tables of tuple fields, per event class.
local TUPLES = {
  conntrack = { orig = true, reply = true },
  expect = { tuple = true, mask = true, master = true },
}
local DEFAULT_TUPLE = { conntrack = "orig", expect = "tuple" }
local SPECIAL = { status = true, labels = true, flags = true }
local NOT_FILTERABLE = { event = true, time = true }

local fields          -- { conntrack = {name=true}, expect = {...}, tuple = {...} }

local PROTO_NAMES     -- name -> number (core.fields().protocols)
local PROTO_BY_NUM    -- number -> name

--- M.init(env): env.core (addresses), env.fields (conntrack, expect and tuple
-- field lists; protocols)
function M.init(env)
  core = env.core
  local f = env.fields
  fields = {}
  for _, class in ipairs { "conntrack", "expect", "tuple" } do
    local set = {}
    for _, name in ipairs(f[class]) do set[name] = true end
    fields[class] = set
  end
  PROTO_NAMES, PROTO_BY_NUM = f.protocols, {}
  for k, v in pairs(PROTO_NAMES) do PROTO_BY_NUM[v] = k end
end

-- Errors carry no position: ct.on re-raises them at the script's call site.
local function fail(_, fmt, ...)
  error(string.format(fmt, ...), 0)
end

local function is_list(v)
  return type(v) == "table" and v[1] ~= nil
end

-- One value or a list of values, each normalised by conv; returns a predicate, and
-- the value itself when it is a single plain one (callers then inline x == value:
-- one Lua call less per event).
local function any_of(v, conv, what)
  local vals = is_list(v) and v or { v }
  local set, preds = {}, {}
  for i = 1, #vals do
    local x, pred = conv(vals[i], what)
    if pred then preds[#preds + 1] = pred else set[x] = true end
  end
  if #preds == 0 then
    local only = #vals == 1 and next(set) or nil
    return function(x) return x ~= nil and set[x] == true end, only
  end
  return function(x)
    if x == nil then return false end
    if set[x] then return true end
    for i = 1, #preds do if preds[i](x) then return true end end
    return false
  end
end

local function conv_int(v, what)
  if math.type(v) ~= "integer" then
    if type(v) == "number" and v == math.floor(v) then return math.tointeger(v) end
    fail(5, "filter field '%s' wants an integer, got %s", what, type(v))
  end
  return v
end

local function conv_string(v, what)
  if type(v) ~= "string" then fail(5, "filter field '%s' wants a string, got %s", what, type(v)) end
  return v
end

local function conv_state(v, what)
  return conv_string(v, what):upper()
end

local function conv_proto(v, what)
  if type(v) == "number" then
    local n = conv_int(v, what)
    return PROTO_BY_NUM[n] or tostring(n)
  end
  v = conv_string(v, what):lower()
  if not PROTO_NAMES[v] and not v:match("^%d+$") then
    fail(5, "filter field '%s': unknown protocol '%s'", what, v)
  end
  return v
end

local function conv_family(v, what)
  v = conv_string(v, what):lower()
  if v ~= "ipv4" and v ~= "ipv6" then
    fail(5, "filter field '%s' wants \"ipv4\" or \"ipv6\", got '%s'", what, v)
  end
  return v
end

local function conv_addr(v, what)
  v = conv_string(v, what)
  local a, bits = v:match("^([^/]+)/(%d+)$")
  if not a then a = v end
  local fam, canon, raw = core.addr(a)
  if not fam then fail(5, "filter field '%s': bad address '%s'", what, v) end
  if not bits then return canon end
  bits = tonumber(bits)
  local max = fam == "ipv4" and 32 or 128
  if bits > max then fail(5, "filter field '%s': bad prefix length in '%s'", what, v) end
  if bits == max then return canon end
  local addr_in = core.addr_in
  return nil, function(x) return addr_in(x, raw, bits) end
end

local TUPLE_CONV = {
  src = conv_addr, dst = conv_addr,
  sport = conv_int, dport = conv_int, type = conv_int, code = conv_int, id = conv_int,
  packets = conv_int, bytes = conv_int, zone = conv_int,
}

local TOP_CONV = {
  family = conv_family, proto = conv_proto, protonum = conv_int, state = conv_state,
  timeout = conv_int, mark = conv_int, zone = conv_int, id = conv_int, use = conv_int,
  secmark = conv_int, secctx = conv_string, helper = conv_string, class = conv_int,
  fn = conv_string, portid = conv_int, progname = conv_string, netns = conv_string,
}

-- status = "assured" | {"assured", "seen_reply"} (any of) | {assured = true, dying = false}
local function set_check(key, v)
  if type(v) == "string" or is_list(v) then
    local names = type(v) == "string" and { v } or v
    for _, n in ipairs(names) do conv_string(n, key) end
    return function(ev)
      local s = ev[key]
      if not s then return false end
      for i = 1, #names do if s[names[i]] then return true end end
      return false
    end
  elseif type(v) == "table" then
    local want = {}
    for n, b in pairs(v) do
      if type(n) ~= "string" or type(b) ~= "boolean" then
        fail(4, "filter field '%s' wants a name, a list of names or {name = boolean}", key)
      end
      want[n] = b
    end
    return function(ev)
      local s = ev[key] or {}
      for n, b in pairs(want) do if (s[n] == true) ~= b then return false end end
      return true
    end
  end
  fail(4, "filter field '%s' wants a name, a list of names or {name = boolean}", key)
end

local function tuple_checks(checks, tkey, spec, prefix)
  if type(spec) ~= "table" then fail(4, "filter field '%s' wants a table", prefix) end
  for k, v in pairs(spec) do
    local conv = TUPLE_CONV[k]
    if not conv then fail(4, "unknown filter field '%s.%s'", prefix, tostring(k)) end
    local pred, only = any_of(v, conv, prefix .. "." .. k)
    checks[#checks + 1] = only ~= nil and function(ev)
      local t = ev[tkey]
      return t ~= nil and t[k] == only
    end or function(ev)
      local t = ev[tkey]
      return t ~= nil and pred(t[k])
    end
  end
end

-- compile(spec, class) -> match(ev) -> boolean; class is "conntrack" or "expect".
-- Raises (naming the field) on an unknown key or a value of the wrong kind.
function M.compile(spec, class)
  if type(spec) ~= "table" then fail(3, "filter must be a table, got %s", type(spec)) end
  local checks = {}
  local tuples, top = TUPLES[class], fields[class]
  for k, v in pairs(spec) do
    if type(k) ~= "string" then fail(3, "filter keys must be field names") end
    if tuples[k] then
      tuple_checks(checks, k, v, k)
    elseif SPECIAL[k] and top[k] then
      checks[#checks + 1] = set_check(k, v)
    elseif top[k] and not NOT_FILTERABLE[k] and TOP_CONV[k] then
      local pred, only = any_of(v, TOP_CONV[k], k)
      checks[#checks + 1] = only ~= nil and function(ev) return ev[k] == only end
        or function(ev) return pred(ev[k]) end
    elseif TUPLE_CONV[k] then
      local tkey = DEFAULT_TUPLE[class]
      tuple_checks(checks, tkey, { [k] = v }, tkey)
    else
      fail(3, "unknown filter field '%s' for %s events", k, class)
    end
  end
  local n = #checks
  if n == 0 then return nil end
  if n == 1 then return checks[1] end
  return function(ev)
    for i = 1, n do
      if not checks[i](ev) then return false end
    end
    return true
  end
end

return M
