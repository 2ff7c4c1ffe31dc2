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

--- ct.update(t, changes) -> true | nil, message, code
-- changes: mark (+ mask: only those bits change), timeout, status, labels (+ labels_mask).
-- The kernel keeps labels only where the ruleset uses connlabel; its ENOSPC says
-- so cryptically, so the message says what to do.
function M.update(t, changes)
  use_netns(netns_of(t), "update", 2)
  local ok, msg, code = core.ct_update(t, changes)
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
  if type(t) == "table" and rawget(t, 1) ~= nil then
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
  local mark = math.type(f.mark) == "integer" and f.mark or nil
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
  return family, mark, mark and 0xffffffff or nil, st, stmask
end

local function entries(kind, class, f, level)
  local match
  if f ~= nil then
    local ok, res = pcall(filter.compile, f, class)
    if not ok then err.argerror(level, 1, "entries", tostring(res)) end
    match = res
  end
  local it, msg, code
  use_netns(f and f.netns, "entries", level)
  if kind == "ct" then
    it, msg, code = core.dump("ct", kernel_filter(f))
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
  -- inverted), mark, zone, status, state (TCP), helper, labels.
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
    -- t: master, tuple, mask (tuple tables), timeout; helper, class, flags, zone, nat
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
