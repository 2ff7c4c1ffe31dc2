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

-- conntrack calls TCP state 9 LISTEN; the kernel (and ev.state) SYN_SENT2.
local function conv_state(v, what)
  v = conv_string(v, what):upper()
  return v == "LISTEN" and "SYN_SENT2" or v
end

-- Ports are 16 bits: 65536 would match nothing, so it is refused (as conntrack does).
local function conv_port(v, what)
  v = conv_int(v, what)
  if v < 0 or v > 65535 then fail(5, "filter field '%s': port %d out of range (0-65535)", what, v) end
  return v
end

-- Names as conntrack -p takes them: ctlua's, then /etc/protocols ("igmp"), then
-- the number; the value compared is ev.proto's (the name, else the number as text).
local function conv_proto(v, what)
  local n
  if type(v) == "number" then
    n = conv_int(v, what)
  else
    local s = conv_string(v, what):lower()
    n = PROTO_NAMES[s] or core.proto_number(s) or core.proto_number(conv_string(v, what))
    if not n then fail(5, "filter field '%s': unknown protocol '%s'", what, s) end
  end
  if n < 0 or n > 255 then fail(5, "filter field '%s': protocol %d out of range", what, n) end
  return PROTO_BY_NUM[n] or tostring(n)
end

-- mark = N | {value = N, mask = M}: (mark & mask) == value, as conntrack -m N/M.
local function conv_mark(v, what)
  if type(v) == "table" then
    local val, mask = v.value, v.mask == nil and 0xffffffff or v.mask
    if math.type(val) ~= "integer" or math.type(mask) ~= "integer" then
      fail(5, "filter field '%s' wants an integer or {value = N, mask = M}", what)
    end
    if val == val & mask and mask == 0xffffffff then return val end
    return nil, function(x) return x & mask == val end
  end
  return conv_int(v, what)
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
  sport = conv_port, dport = conv_port, type = conv_int, code = conv_int, id = conv_int,
  packets = conv_int, bytes = conv_int, zone = conv_int,
}

local TOP_CONV = {
  family = conv_family, proto = conv_proto, protonum = conv_int, state = conv_state,
  timeout = conv_int, mark = conv_mark, zone = conv_int, id = conv_int, use = conv_int,
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

-- The kernel leaves a zero mark and zone out of events (and a zero zone out of
-- dumps): absent means 0, so {mark = 0} means the same for handlers and lists.
local ZERO_WHEN_ABSENT = { mark = true, zone = true }

-- src_nat / dst_nat / any_nat = true | "ADDR" | {addr = "ADDR", port = N}, as
-- conntrack's -n / -g / -j: the entry is source- (destination-) NATed, to that
-- address and port when given (seen in the reply tuple); any_nat: either.
local function nat_spec(v, what)
  if v == true then return {} end
  if type(v) == "string" then
    -- conntrack's forms: ADDR, ADDR:PORT, [IPV6]:PORT, IPV6
    local a, p = v:match("^%[([^%]]+)%]:(.*)$")
    if not a then
      if select(2, v:gsub(":", "")) == 1 then a, p = v:match("^([^:]*):(.*)$") else a = v end
    end
    if p and not p:match("^%d+$") then fail(4, "filter field '%s': bad port in '%s'", what, v) end
    v = { addr = a, port = p and math.tointeger(tonumber(p)) }
  end
  if type(v) ~= "table" then fail(4, "filter field '%s' wants true, an address or {addr, port}", what) end
  local out = {}
  if v.addr ~= nil then
    local a = conv_string(v.addr, what .. ".addr")
    local fam, canon = core.addr(a)
    if not fam then fail(4, "filter field '%s': bad address '%s'", what, a) end
    out.addr = canon
  end
  if v.port ~= nil then out.port = conv_port(v.port, what .. ".port") end
  return out
end

-- One side of conntrack's filter_nat: src side compares reply.dst/dport with orig
-- src/sport (and the wanted address/port), dst side reply.src/sport with orig dst/dport.
local function nat_side(ev, want, src)
  local o, r = ev.orig, ev.reply
  if not o or not r then return false end
  local st = ev.status or {}
  local done = st[src and "src_nat_done" or "dst_nat_done"] or ev.status == nil
  local ra, oa = r[src and "dst" or "src"], o[src and "src" or "dst"]
  local rp, op = r[src and "dport" or "sport"], o[src and "sport" or "dport"]
  local is_nat, is_pat = done and ra ~= oa, done and rp ~= op
  local has
  if want.addr then has = is_nat and ra == want.addr end
  if want.port then
    local ret = is_pat and rp == want.port
    if want.addr and has and not ret then has = false end
    if not want.addr and ret then has = true end
  end
  if not want.addr and not want.port then has = is_nat or is_pat end
  return has or false
end

local function nat_checks(checks, spec)
  local s, d, a = spec.src_nat, spec.dst_nat, spec.any_nat
  if a ~= nil and (s ~= nil or d ~= nil) then
    fail(3, "filter field 'any_nat' cannot be combined with 'src_nat' or 'dst_nat'")
  end
  if s ~= nil then
    local w = nat_spec(s, "src_nat")
    checks[#checks + 1] = function(ev) return nat_side(ev, w, true) end
  end
  if d ~= nil then
    local w = nat_spec(d, "dst_nat")
    checks[#checks + 1] = function(ev) return nat_side(ev, w, false) end
  end
  if a ~= nil then
    local w = nat_spec(a, "any_nat")
    checks[#checks + 1] = function(ev) return nat_side(ev, w, true) or nat_side(ev, w, false) end
  end
end
local NAT_KEYS = { src_nat = true, dst_nat = true, any_nat = true }

-- The family of a single address value ("ADDR" or "ADDR/BITS"), else nil.
local function addr_family(v)
  if type(v) ~= "string" then return nil end
  return (core.addr(v:match("^([^/]+)/%d+$") or v))
end

local function tuple_checks(checks, tkey, spec, prefix)
  if type(spec) ~= "table" then fail(4, "filter field '%s' wants a table", prefix) end
  local fs, fd = addr_family(spec.src), addr_family(spec.dst)
  if fs and fd and fs ~= fd then
    fail(4, "filter fields '%s.src' and '%s.dst' are of different families: nothing can match", prefix, prefix)
  end
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
  local nat_done = false
  local tuples, top = TUPLES[class], fields[class]
  for k, v in pairs(spec) do
    if type(k) ~= "string" then fail(3, "filter keys must be field names") end
    if tuples[k] then
      tuple_checks(checks, k, v, k)
    elseif SPECIAL[k] and top[k] then
      checks[#checks + 1] = set_check(k, v)
    elseif top[k] and not NOT_FILTERABLE[k] and TOP_CONV[k] then
      local pred, only = any_of(v, TOP_CONV[k], k)
      if ZERO_WHEN_ABSENT[k] then
        checks[#checks + 1] = only ~= nil and function(ev) return (ev[k] or 0) == only end
          or function(ev) return pred(ev[k] or 0) end
      else
        checks[#checks + 1] = only ~= nil and function(ev) return ev[k] == only end
          or function(ev) return pred(ev[k]) end
      end
    elseif NAT_KEYS[k] and class == "conntrack" then
      if not nat_done then nat_checks(checks, spec); nat_done = true end
    elseif TUPLE_CONV[k] then
      local tkey = DEFAULT_TUPLE[class]
      if k == "src" or k == "dst" then
        local o = k == "src" and "dst" or "src"
        local f1, f2 = addr_family(v), addr_family(rawget(spec, o))
        if f1 and f2 and f1 ~= f2 then
          fail(3, "filter fields 'src' and 'dst' are of different families: nothing can match")
        end
      end
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
