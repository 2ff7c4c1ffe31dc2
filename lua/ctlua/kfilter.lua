-- ctlua.kfilter — the part of the handlers' filters the kernel can apply to the
-- event socket (a BPF filter built by libnetfilter_conntrack).
--
-- The kernel filter must let through every event some handler could match, so it
-- is a superset: an attribute (protocol, original source or destination address,
-- mark, TCP state) is filtered on only when every conntrack handler constrains it,
-- and then on the union of their values. One handler without a filter, or with a
-- value the kernel cannot express, leaves that attribute (or everything) open.
-- Expectation events are never filtered. The Lua match always runs after it, so
-- what handlers see is the same with and without the kernel filter.

local M = {}

local core
local PROTONUM, TCP_STATE   -- name -> number (core.fields().protocols, .tcp_states)

--- M.init(env): env.core (addresses), env.fields (protocols, tcp_states)
function M.init(env)
  core = env.core
  PROTONUM, TCP_STATE = env.fields.protocols, env.fields.tcp_states
end
local MAX_VALUES = 100    -- libnetfilter_conntrack silently drops entries past ~127

local function values(v)
  if type(v) == "table" and v[1] ~= nil then return v end
  return { v }
end

-- Union of one attribute over all handlers; nil when some handler leaves it open.
local function union(handlers, get, conv)
  local out, seen = {}, {}
  for _, h in ipairs(handlers) do
    local v = get(h.filter)
    if v == nil then return nil end
    for _, x in ipairs(values(v)) do
      local c = conv(x)
      if c == nil then return nil end
      local key = type(c) == "table" and table.concat(c, "/") or tostring(c)
      if not seen[key] then seen[key] = true; out[#out + 1] = c end
    end
  end
  if #out == 0 or #out > MAX_VALUES then return nil end
  return out
end

-- libnetfilter_conntrack's IPv4 address filter also rejects every IPv6 event (its
-- IPv6 filter lets IPv4 events through). So with IPv6 values in the union only
-- the IPv6 part is used; the IPv4 part only when no handler accepts IPv6 at all.
-- Its IPv6 filter holds at most 20 addresses.
local function families(list)
  if not list then return nil end
  local v4, v6 = {}, {}
  for _, a in ipairs(list) do
    if a[1] == "ipv6" then v6[#v6 + 1] = a else v4[#v4 + 1] = a end
  end
  if #v6 == 0 then return v4 end
  if #v6 > 20 then return nil end
  return v6
end

--- spec(handlers) -> kernel filter spec | nil
-- handlers: the conntrack handlers (new, update, destroy) now registered.
function M.spec(handlers)
  if #handlers == 0 then return nil end
  for _, h in ipairs(handlers) do
    if h.filter == nil then return nil end
  end
  local spec, any = {}, false
  spec.protos = union(handlers, function(f) return f.proto or f.protonum end, function(x)
    if math.type(x) == "integer" then return x end
    if type(x) == "string" then return PROTONUM[x:lower()] or core.proto_number(x:lower()) or core.proto_number(x) end
  end)
  local function addr(x)
    if type(x) ~= "string" then return nil end
    local a, bits = x:match("^([^/]+)/(%d+)$")
    local fam, _, raw = core.addr(a or x)
    if not fam then return nil end
    return { fam, raw, tonumber(bits) or (fam == "ipv4" and 32 or 128) }
  end
  spec.src = families(union(handlers, function(f) return f.src or (f.orig and f.orig.src) end, addr))
  spec.dst = families(union(handlers, function(f) return f.dst or (f.orig and f.orig.dst) end, addr))
  -- Events leave a zero mark out, and the kernel filter cannot match an absent
  -- attribute: a value that accepts mark 0 leaves marks open. {value, mask} pairs
  -- go as they are ((mark & mask) == value).
  spec.marks = union(handlers, function(f) return f.mark end, function(x)
    if math.type(x) == "integer" then return x ~= 0 and { x, 0xffffffff } or nil end
    if type(x) == "table" and math.type(x.value) == "integer" and x.value ~= 0 then
      local m = x.mask == nil and 0xffffffff or x.mask
      if math.type(m) == "integer" then return { x.value, m } end
    end
  end)
  -- TCP states only when every handler is about TCP alone.
  local tcp_only = spec.protos and #spec.protos == 1 and spec.protos[1] == 6
  if tcp_only then
    spec.states = union(handlers, function(f) return f.state end, function(x)
      if type(x) ~= "string" then return nil end
      x = x:upper()
      return TCP_STATE[x == "LISTEN" and "SYN_SENT2" or x]
    end)
  end
  for _, k in ipairs { "protos", "src", "dst", "marks", "states" } do
    if spec[k] then any = true end
  end
  return any and spec or nil
end

return M
