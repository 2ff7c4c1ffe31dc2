-- ctlua.table — the table operations: ct.get/create/update/delete/flush/count,
-- ct.entries/list, ct.expect.*, and the namespaces they act in (ct.watch,
-- ct.unwatch, ct.namespaces).
--
-- Misuse raises naming the field; kernel refusals return nil, message, code where
-- code is the errno name ("ENOENT": no such entry, for delete: already gone).
-- Network namespaces: a table (event, entry, tuple) with `netns` acts there; a
-- filter with `netns` lists there. Without, ctlua's own namespace.
-- M.init(env) binds the operations; ctlua.lua puts them into ct (during --replay
-- through ctlua.replay's recorder instead).

local filter = require "ctlua.filter"
local handlers = require "ctlua.handlers"
local err = require "ctlua.err"

local M = {}

local core, ct, mode
local STATUS_BIT      -- status name -> bit number (core.fields().status_bits)

local function use_netns(ns, fname, level)
  if ns ~= nil and (type(ns) ~= "string" or not pcall(core.use_netns, ns)) then
    err.argerror(level + 1, 1, fname, "network namespace %s is not watched",
                 type(ns) == "string" and "'" .. ns .. "'" or tostring(ns))
  end
  if ns == nil then core.use_netns(nil) end
end
local function netns_of(t) return type(t) == "table" and rawget(t, "netns") or nil end
local function in_netns(fname, fn)
  return function(t, ...)
    use_netns(netns_of(t), fname, 2)
    return fn(t, ...)
  end
end

--- ct.watch(netns) -> name | nil, message, code
-- Watch one more network namespace (a name under /run/netns, or a path): its
-- events arrive with ev.netns = name, and table operations on them act there.
function M.watch(spec)
  if type(spec) ~= "string" then err.argerror(2, 1, "watch", "string expected, got %s", type(spec)) end
  if mode ~= "live" then return err.fail("not watching the kernel", "ENOTSUP") end
  local name, msg, code = core.watch(spec)
  if name then handlers.resubscribe() end
  return name, msg, code
end

--- ct.unwatch(name) -> true | nil, message, code
function M.unwatch(name)
  if type(name) ~= "string" then err.argerror(2, 1, "unwatch", "string expected, got %s", type(name)) end
  if mode ~= "live" then return err.fail("not watching the kernel", "ENOTSUP") end
  return core.unwatch(name)
end

--- ct.namespaces() -> { name, ... }: the namespaces watched now
function M.namespaces()
  if mode ~= "live" then return {} end
  return (core.netns())
end

-- status = {name = true|false, ...} changes only the bits named: merged here with the
-- entry's current bits (as conntrack -U -u reads the entry first), because the kernel
-- takes a whole set, refuses (EBUSY) one that drops confirmed or assured, and never
-- clears a bit: {name = false} is a no-op when it is off, a refusal when it is on.
local function merge_status(t, changes)
  local st = type(changes) == "table" and changes.status
  if type(st) ~= "table" or rawget(st, 1) ~= nil or next(st) == nil then return changes end
  for name, on in pairs(st) do
    if type(name) ~= "string" or type(on) ~= "boolean" then
      err.argerror(3, 2, "update", "status: {name = boolean} expected")
    end
    if STATUS_BIT[name] == nil then err.argerror(3, 2, "update", "status: unknown flag '%s'", name) end
  end
  local cur, msg, code = core.ct_get(t)
  if not cur then return nil, msg, code end
  local bits = 0
  for name, on in pairs(cur.status or {}) do
    if on and STATUS_BIT[name] then bits = bits | (1 << STATUS_BIT[name]) end
  end
  for name, on in pairs(st) do
    local b = 1 << STATUS_BIT[name]
    if not on and bits & b ~= 0 then
      -- ctnetlink only ever turns status bits on: refuse rather than succeed and keep it.
      return err.fail("status bit '" .. name .. "' is set and the kernel cannot clear it", "EOPNOTSUPP")
    end
    if on then bits = bits | b end
  end
  local c = {}
  for k, v in pairs(changes) do c[k] = v end
  c.status = bits
  return c
end

--- ct.update(t, changes) -> true | nil, message, code
-- changes: mark (+ mask: only those bits change), timeout, status, labels (+ labels_mask).
-- status {name = true} sets a bit, the others stay; {name = false} asks that it be
-- off (nil, message, "EOPNOTSUPP" when it is on: the kernel never clears a bit); a
-- list of names or an integer is the whole new set.
-- The kernel keeps labels only where the ruleset uses connlabel; its ENOSPC says
-- so cryptically, so the message says what to do.
function M.update(t, changes)
  use_netns(netns_of(t), "update", 2)
  local merged, gmsg, gcode = merge_status(t, changes)
  if not merged then return nil, gmsg, gcode end
  local ok, msg, code = core.ct_update(t, merged)
  if ok then return ok end
  if code == "ENOSPC" and type(changes) == "table" and changes.labels ~= nil then
    msg = msg .. " (conntrack labels need a rule using connlabel in the ruleset, e.g. nft 'add rule inet filter output ct label set 127')"
  end
  return ok, msg, code
end

--- ct.delete(t) -> true | nil, message, code
--- ct.delete(list) -> deleted, gone, failed, first_error_message
-- A list of entries is deleted in batched requests (one round trip per batch).
function M.delete(t)
  -- An empty table is an empty list (ct.delete(ct.list(f)) when nothing matched).
  if type(t) == "table" and (rawget(t, 1) ~= nil or next(t) == nil) then
    -- One batch per namespace, in the order each first appears.
    local groups, order = {}, {}
    for i = 1, #t do
      local ns = netns_of(t[i]) or false
      if not groups[ns] then groups[ns] = {}; order[#order + 1] = ns end
      local g = groups[ns]
      g[#g + 1] = t[i]
    end
    local deleted, gone, failed, first = 0, 0, 0, nil
    for _, ns in ipairs(order) do
      use_netns(ns or nil, "delete", 2)
      local d, g, f, e = core.ct_delete_many(groups[ns])
      deleted, gone, failed, first = deleted + d, gone + g, failed + f, first or e
    end
    return deleted, gone, failed, first
  end
  use_netns(netns_of(t), "delete", 2)
  return core.ct_delete(t)
end

local function check_family(family, fname)
  if family ~= nil and family ~= "ipv4" and family ~= "ipv6" then
    err.argerror(3, 1, fname, "\"ipv4\" or \"ipv6\" expected")
  end
end

--- ct.flush([family] [, netns]) -> true | nil, message, code
-- With a family, only that family's entries go: the kernel's flush ignores the
-- family (conntrack -F -f ipv6 empties the whole table), so ctlua lists and deletes.
function M.flush(family, netns)
  check_family(family, "flush")
  use_netns(netns, "flush", 2)
  if family == nil then return core.ct_flush() end
  local list, msg, code = ct.list({ family = family, netns = netns })
  if not list then return nil, msg, code end
  local _, _, failed, e = core.ct_delete_many(list)
  if failed > 0 then return err.fail(e, "EIO") end
  return true
end

--- ct.count([netns]) -> number of entries in the table | nil, message, code
function M.count(netns)
  use_netns(netns, "count", 2)
  return core.ct_count()
end

-- The part of a filter the kernel can apply to a dump (family, mark, status); the
-- whole filter still runs in Lua afterwards, so results never depend on it.
local function kernel_filter(f)
  if not f then return nil end
  local family = type(f.family) == "string" and f.family or nil
  local mark, markmask = math.type(f.mark) == "integer" and f.mark or nil, nil
  if mark then markmask = 0xffffffff end
  if type(f.mark) == "table" and math.type(f.mark.value) == "integer" then
    mark, markmask = f.mark.value, math.type(f.mark.mask) == "integer" and f.mark.mask or 0xffffffff
  end
  local st, stmask
  if type(f.status) == "string" and STATUS_BIT[f.status] then
    st = 1 << STATUS_BIT[f.status]; stmask = st
  elseif type(f.status) == "table" and rawget(f.status, 1) == nil then
    st, stmask = 0, 0
    for name, want in pairs(f.status) do
      local b = STATUS_BIT[name]
      if b == nil then st, stmask = nil, nil break end
      stmask = stmask | (1 << b)
      if want then st = st | (1 << b) end
    end
  end
  return family, mark, markmask, st, stmask
end

-- Keys of a list filter that choose the dump rather than match entries.
local DUMPS = { dying = "dying", unconfirmed = "unconfirmed" }

local function entries(kind, class, f, level)
  local match
  if kind == "ct" and type(f) == "table" and (f.zero ~= nil or f.table ~= nil) then
    local z, tbl = f.zero, f.table
    if z ~= nil and type(z) ~= "boolean" then err.argerror(level, 1, "entries", "zero: boolean expected") end
    if tbl ~= nil and not DUMPS[tbl] then
      err.argerror(level, 1, "entries", "table: \"dying\" or \"unconfirmed\" expected")
    end
    if z and tbl then err.argerror(level, 1, "entries", "zero: only for the main table") end
    kind = tbl and DUMPS[tbl] or z and "zero" or "ct"
    local g = {}
    for k, v in pairs(f) do if k ~= "zero" and k ~= "table" then g[k] = v end end
    f = next(g) ~= nil and g or nil
  end
  if f ~= nil then
    local ok, res = pcall(filter.compile, f, class)
    if not ok then err.argerror(level, 1, "entries", tostring(res)) end
    match = res
  end
  local it, msg, code
  use_netns(f and f.netns, "entries", level)
  if kind ~= "expect" then
    it, msg, code = core.dump(kind, kernel_filter(f))
  else
    it, msg, code = core.dump("expect", f and type(f.family) == "string" and f.family or nil)
  end
  if not it then return nil, msg, code end
  if not match then return it, nil, nil, it end
  return function()
    local e
    repeat e = it() until e == nil or match(e)
    return e
  end, nil, nil, it
end

--- ct.entries([filter]) -> iterator over entry tables (no array is built)
-- for e in ct.entries({proto = "udp"}) do ... end; breaking out closes the dump.
-- Raises when the dump cannot start.
function M.entries(f)
  local it, s, c, closing = entries("ct", "conntrack", f, 3)
  if not it then error("cannot list conntrack entries: " .. s, 2) end
  return it, s, c, closing
end

local function collect(kind, class, f)
  local it, msg, code, closing = entries(kind, class, f, 4)
  if not it then return nil, msg, code end
  local out, n = {}, 0
  local ok, e = pcall(function()
    for x in it, nil, nil, closing do n = n + 1; out[n] = x end
  end)
  if not ok then return err.fail(tostring(e), closing.errno and closing:errno() or "EIO") end
  return out
end

--- ct.list([filter]) -> array of entry tables | nil, message, code
-- Besides match keys the filter may hold zero = true (read and zero the counters of
-- every entry the kernel dumps, as conntrack -L -z) or table = "dying" | "unconfirmed"
-- (those lists instead of the main table).
function M.list(f) return collect("ct", "conntrack", f) end

--- M.init(env): env.core, env.ct (ct.flush lists through ct.list), env.mode,
-- env.fields.status_bits; binds the operations that wrap a core primitive.
function M.init(env)
  core, ct, mode = env.core, env.ct, env.mode
  STATUS_BIT = env.fields.status_bits

  --- ct.get(t) -> entry | nil, message, code
  -- t: an event or entry table, or a tuple {family?, proto, src, dst, sport, dport}
  -- (ICMP: type, code, id).
  M.get = in_netns("get", core.ct_get)

  --- ct.create(t) -> true | nil, message, code
  -- t: proto, orig tuple (t.orig or t itself), timeout; optional reply (default: orig
  -- inverted), mark, zone, status, state (TCP), helper, labels, src_nat / dst_nat
  -- ("ADDR" or {addr = "ADDR", port = N}: the kernel sets the NAT binding up).
  M.create = in_netns("create", core.ct_create)

  M.expect = {
    --- ct.expect.list([filter]) -> array of expectation tables | nil, message, code
    list = function(f) return collect("expect", "expect", f) end,
    --- ct.expect.entries([filter]) -> iterator over expectation tables
    entries = function(f)
      local it, s, c, closing = entries("expect", "expect", f, 3)
      if not it then error("cannot list expectations: " .. s, 2) end
      return it, s, c, closing
    end,
    --- ct.expect.get(t) -> expectation | nil, message, code (t needs tuple)
    get = in_netns("get", core.exp_get),
    --- ct.expect.create(t) -> true | nil, message, code
    -- t: master, tuple, mask (tuple tables), timeout; helper, class (needs helper),
    -- flags, zone, fn, nat = {dir = "orig" | "reply", src, sport, ...}
    create = in_netns("create", core.exp_create),
    --- ct.expect.delete(t) -> true | nil, message, code; an expect-new event works as is
    delete = in_netns("delete", core.exp_delete),
    --- ct.expect.flush([family]) -> true | nil, message, code (family: as ct.flush)
    flush = function(family, netns)
      check_family(family, "flush")
      use_netns(netns, "flush", 2)
      if family == nil then return core.exp_flush() end
      local list, msg, code = collect("expect", "expect", { family = family, netns = netns })
      if not list then return nil, msg, code end
      for _, x in ipairs(list) do
        use_netns(netns, "flush", 2)
        local ok, e, ecode = core.exp_delete(x)
        if not ok and ecode ~= "ENOENT" then return nil, e, ecode end
      end
      return true
    end,
  }
end

-- The names M.init leaves for ct (ctlua.replay's recorder takes the same).
M.OPS = { "watch", "unwatch", "namespaces", "get", "create", "update", "delete", "flush",
          "count", "entries", "list", "expect" }

return M
