-- testsuite.lua — conntrack-tools' own testsuite steps, translated to ctlua calls and
-- held against the conntrack tool side by side (run by testsuite.t, as a ctlua script):
--   ctlua tests/priv/testsuite.lua -- ORACLE_NETNS_PID [REFERENCE_DIR]
-- Each step: its conntrack command line (run as the oracle in the other namespace) and
-- its translation (run here). After every step that acts, both results (OK/BAD) and
-- both tables (conntrack -L, timeouts left out) must be the same. With REFERENCE_DIR,
-- every step of its files must have a translation, in order.
--
-- A translation returns true for OK; nil/false or raising is BAD. Semantics that
-- conntrack has in the tool and ctlua leaves to the script are written out here:
-- -D/-U with a filter list then delete/update what matched (BAD when nothing did),
-- -A is create, else update; -R - runs the batched lines, stopping at the first BAD.

local ORACLE, REFDIR = ...
local ct = require "ctlua"

local BATCH = false      -- running a -R - batch: -D does not count (as conntrack)
local SR = { seen_reply = true }

local function I(t) return ct.create(t) end

-- -A: the kernel creates or updates (NLM_F_CREATE without EXCL); ctlua creates,
-- and updates what already exists.
local function A(t)
  local ok, _, code = ct.create(t)
  if ok then return true end
  if code ~= "EEXIST" then return false end
  return (ct.update(t, { timeout = t.timeout, mark = t.mark, status = t.status and (function()
    local s = {} for k, v in pairs(t.status) do if v then s[k] = true end end return s end)() }))
end

local function L(f)
  assert(ct.list(f))
  return true
end

local function D(f)
  local list = assert(ct.list(f))
  local deleted = ct.delete(list)
  return BATCH or deleted > 0
end

-- -U: only entries the change alters count (conntrack compares before sending).
local function U(f, ch)
  local n = 0
  for _, e in ipairs(assert(ct.list(f))) do
    local c, changed = {}, false
    if ch.timeout then c.timeout = ch.timeout; changed = true end
    if ch.mark then
      local mask = ch.mask or 0xffffffff
      local old = e.mark or 0
      if (old & ~mask) ~ ch.mark ~= old then changed = true end
      c.mark, c.mask = ch.mark, ch.mask
    end
    if ch.status then
      for k in pairs(ch.status) do if not (e.status or {})[k] then changed = true end end
      c.status = ch.status
    end
    if changed and ct.update(e, c) then n = n + 1 end
  end
  return n > 0
end

-- What -o save prints of an entry, as a table ct.create takes, with changes.
local SETTABLE = { seen_reply = true, assured = true, fixed_timeout = true, expected = false }
local function copy(e, zone)
  local function tup(t)
    local o = { src = t.src, dst = t.dst, sport = t.sport, dport = t.dport }
    if e.proto == "icmp" or e.proto == "icmpv6" then o.type, o.code, o.id = t.type, t.code, t.id end
    return o
  end
  local st = {}
  for k in pairs(e.status or {}) do if SETTABLE[k] then st[k] = true end end
  return { proto = e.protonum, orig = tup(e.orig), reply = tup(e.reply), timeout = e.timeout,
           state = e.state, mark = e.mark, zone = zone, status = st }
end
-- -L ... -o save | sed s/-w A/-w B/ ... then -R -: the copies are made at -R time.
local function save_to(f, zone, delete)
  local list = assert(ct.list(f))
  if delete then ct.delete(list) end
  local later = {}
  for _, e in ipairs(list) do later[#later + 1] = function() return A(copy(e, zone)) end end
  return later
end

local tcp12 = { proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20 }
local function with(base, t)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(t or {}) do o[k] = v end
  return o
end
local T = function(t) return with(tcp12, with({ state = "LISTEN", status = SR, timeout = 50 }, t)) end
local rev = { proto = "tcp", orig = { src = "1.1.1.1", dst = "2.2.2.2", sport = 21, dport = 11 },
              reply = { src = "2.2.2.2", dst = "1.1.1.1", sport = 11, dport = 21 } }
local revf = { proto = "tcp", reply = { src = "2.2.2.2", dst = "1.1.1.1", sport = 11, dport = 21 } }
local V6A, V6B, V6C = "2001:DB8::1.1.1.1", "2001:DB8::2.2.2.2", "2001:DB8::3.3.3.3"
local tcp6 = { proto = "tcp", src = V6A, dst = V6B, sport = 10, dport = 20 }
local T6 = function(t) return with(tcp6, with({ state = "LISTEN", status = SR, timeout = 50 }, t)) end
local icmp = { proto = "icmp", orig = { src = "1.1.1.1", dst = "2.2.2.2", type = 8, code = 0, id = 1226 },
               reply = { src = "2.2.2.2", dst = "1.1.1.1" } }
-- (a plain `id` is the entry's id: the ICMP id goes in the orig tuple)
local icmpf = { proto = "icmp", status = "seen_reply", orig = { src = "1.1.1.1", dst = "2.2.2.2", type = 8, code = 0, id = 1226 },
                reply = { src = "2.2.2.2", dst = "1.1.1.1" } }
local function igmp(p, t)
  return with({ proto = p, orig = { src = "0.0.0.0", dst = "224.0.0.22" },
                reply = { src = "224.0.0.22", dst = "0.0.0.0" } }, t)
end
local function igmpf(p) return { proto = p, src = "0.0.0.0", dst = "224.0.0.22", reply = { src = "224.0.0.22", dst = "0.0.0.0" } } end
local p200v6 = { proto = 200, src = V6A, dst = V6B }

-- The four entries 08stdin and 09dumpopt make, again and again.
local FOUR = {
  "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
  "-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50",
  "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
  "-I -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
}
local function four(verb, zone, how)
  local z = zone and { zone = zone } or {}
  local mk = verb == "-A" and A or I
  local cmds = {}
  for i, c in ipairs(FOUR) do
    c = c:gsub("^%-I", verb)
    if zone then c = c:gsub("^(%-%u) ", "%1 -w " .. zone .. " ") end
    cmds[i] = c
  end
  local fns = {
    function() return mk(T(z)) end,
    function() return mk(with(rev, with({ state = "LISTEN", status = SR, timeout = 50 }, z))) end,
    function() return mk(T6(z)) end,
    function() return mk(with(icmp, with({ timeout = 29, status = SR }, z))) end,
  }
  local out = {}
  for i = 1, 4 do out[i] = { cmds[i], fns[i], batch = how == "batch" or nil } end
  return out
end
local DFOUR = {
  "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20",
  "-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21",
  "-D -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20",
  "-D -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
}
-- deletes of the four; full: with --state LISTEN -u SEEN_REPLY (09dumpopt's later form)
local function dfour(zone, how, full)
  local z = zone and { zone = zone } or {}
  local st = full and { state = "LISTEN", status = "seen_reply" } or {}
  local out = {}
  for i, c in ipairs(DFOUR) do
    if zone then c = c:gsub("^%-D ", "-D -w " .. zone .. " ") end
    if full and i < 4 then c = c .. " --state LISTEN -u SEEN_REPLY" end
    out[i] = { c, nil, batch = how == "batch" or nil }
  end
  out[1][2] = function() return D(with(tcp12, with(z, st))) end
  out[2][2] = function() return D(with(revf, with(z, st))) end
  out[3][2] = function() return D(with(tcp6, with(z, st))) end
  out[4][2] = function() return D(with(icmpf, z)) end
  return out
end
local RUN = { "-R -", "run" }

-- Steps per file: { conntrack arguments, translation [, batch = true | pipe = sed] }
local S = {}
local function add(file, list)
  S[file] = S[file] or {}
  for _, x in ipairs(list) do
    if type(x[1]) == "table" then add(file, x) else S[file][#S[file] + 1] = x end
  end
end

add("00create", {
  { "-I -s 1.1.1.1 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I{ proto = "tcp", src = "1.1.1.1", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-I -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I{ proto = "tcp", dst = "2.2.2.2", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I{ src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I{ proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I{ proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY",
    function() return I(with(tcp12, { state = "LISTEN", status = SR })) end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp12) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp12) end },
  { "-I -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(with(rev, { state = "LISTEN", status = SR, timeout = 50 })) end },
  { "-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21", function() return D(revf) end },
  { "-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21", function() return D(revf) end },
  { "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T6()) end },
  { "-D -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp6) end },
  { "-I -s 2001:DB8::1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(T{ src = V6A }) end },
  { "-I -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
    function() return I(with(icmp, { timeout = 29, status = SR })) end },
  { "-D -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
    function() return D(icmpf) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return I(igmp(2, { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return I(igmp(2, { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp", function() return I(igmp("igmp", { timeout = 10 })) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return D(igmpf(2)) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return D(igmpf(2)) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp", function() return I(igmp("igmp", { timeout = 10 })) end },
  { "-U -t 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return U(igmpf(2), { timeout = 11 }) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return D(igmpf(2)) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p igmp", function() return D(igmpf("igmp")) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return I(igmp(200, { timeout = 10 })) end },
  { "-U -t 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return U(igmpf(200), { timeout = 11 }) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return D(igmpf(200)) end },
  { "-D -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return D(igmpf(200)) end },
  { "-I -t 10 -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p 256",
    function() return I{ proto = 256, orig = { src = "1.1.1.1", dst = "2.2.2.2" }, reply = { src = "2.2.2.2", dst = "1.1.1.1" }, timeout = 10 } end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p foo", function() return I(igmp("foo", { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p -10", function() return I(igmp(-10, { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2000", function() return I(igmp(2000, { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 20foo", function() return I(igmp("20foo", { timeout = 10 })) end },
  { "-I -t 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p foo20", function() return I(igmp("foo20", { timeout = 10 })) end },
})

add("01delete", {
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-D -s 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D{ src = "2.2.2.2", proto = "tcp", sport = 10, dport = 20 } end },
  { "-D -d 1.1.1.1 -p tcp --sport 10 --dport 20", function() return D{ dst = "1.1.1.1", proto = "tcp", sport = 10, dport = 20 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --dport 20", function() return I(with(tcp12, { sport = 20 })) end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 10", function() return I(with(tcp12, { dport = 10 })) end },
  { "-D -s 1.1.1.1", function() return D{ src = "1.1.1.1" } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 -m 20", function() return I(T{ mark = 20 }) end },
  { "-D -m 10", function() return D{ mark = 10 } end },
  { "-D -m 20", function() return D{ mark = 20 } end },
  { "-D -m 20", function() return D{ mark = 20 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-D -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.2.2.0 --mask-dst 255.255.255.0", function() return D{ src = "1.1.1.0/24", dst = "2.2.2.0/24" } end },
  { "-D -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.2.2.0 --mask-dst 255.255.255.0", function() return D{ src = "1.1.1.0/24", dst = "2.2.2.0/24" } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-D -s 1.1.1.0/24 -d 2.2.2.0/24", function() return D{ src = "1.1.1.0/24", dst = "2.2.2.0/24" } end },
  { "-D -s 1.1.1.0/24 -d 2.2.2.0/24", function() return D{ src = "1.1.1.0/24", dst = "2.2.2.0/24" } end },
  { "-D -s ::1 -d 2.2.2.2", function() return D{ src = "::1", dst = "2.2.2.2" } end },
  { "-I -s ::1 -d ::2 -p tcp --sport 20 --dport 10 --state LISTEN -u SEEN_REPLY -t 40",
    function() return I{ proto = "tcp", src = "::1", dst = "::2", sport = 20, dport = 10, state = "LISTEN", status = SR, timeout = 40 } end },
  { "-D -s ::1", function() return D{ src = "::1" } end },
})

add("02filter", {
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(T()) end },
  { "-L -s 1.1.1.1", function() return L{ src = "1.1.1.1" } end },
  { "-L -d 2.2.2.2", function() return L{ dst = "2.2.2.2" } end },
  { "-L -p tcp", function() return L{ proto = "tcp" } end },
  { "-L -u SEEN_REPLY", function() return L{ status = "seen_reply" } end },
  { "-L -p tcp --state LISTEN", function() return L{ proto = "tcp", state = "LISTEN" } end },
  { "-U -s 1.1.1.1 -m 1", function() return U({ src = "1.1.1.1" }, { mark = 1 }) end },
  { "-L -m 1", function() return L{ mark = 1 } end },
  { "-L -f ipv4", function() return L{ family = "ipv4" } end },
  { "-L --mark 0", function() return L{ mark = 0 } end },
  { "-L --mark 0/0xffffffff", function() return L{ mark = { value = 0, mask = 0xffffffff } } end },
  { "-L -s 1.1.1.0 --mask-src 255.255.255.0 -d 2.0.0.0 --mask-dst 255.0.0.0", function() return L{ src = "1.1.1.0/24", dst = "2.0.0.0/8" } end },
  { "-L -s 1.1.1.4/24 -d 2.3.4.5/8", function() return L{ src = "1.1.1.4/24", dst = "2.3.4.5/8" } end },
  { "-L -s 1.1.2.0/24 -d 2.3.4.5/8", function() return L{ src = "1.1.2.0/24", dst = "2.3.4.5/8" } end },
  { "-L -s 2.2.2.2 -d ::1", function() return L{ src = "2.2.2.2", dst = "::1" } end },
  { "-L -s ::1", function() return L{ src = "::1" } end },
  { "-L -s abcd:abcd:abcd:: --mask-src ffff:ffff:ffff::", function() return L{ src = "abcd:abcd:abcd::/48" } end },
  { "-L --mask-src ffff:ffff:ffff:: --mask-dst 255.0.0.0", function() return L{ src = "::/48", dst = "0.0.0.0/8" } end },
  { "-D -d 2.2.2.2", function() return D{ dst = "2.2.2.2" } end },
})

local function natfile(file, A1, A2, A3, AP, AP81, OTHER80, v6)
  local Tn = v6 and T6 or T
  local src = v6 and V6A or "1.1.1.1"
  add(file, {
    { "-I -s " .. A1 .. " -d " .. A2 .. " --dst-nat " .. A3 .. " -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
      function() return I(Tn{ dst_nat = A3 }) end },
    { "-L --dst-nat", function() return L{ dst_nat = true } end },
    { "-L --dst-nat " .. A3, function() return L{ dst_nat = A3 } end },
    { "-L --src-nat", function() return L{ src_nat = true } end },
    { "-D -s " .. A1, function() return D{ src = src } end },
    { "-I -s " .. A1 .. " -d " .. A2 .. " --src-nat " .. A3 .. " -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
      function() return I(Tn{ src_nat = A3 }) end },
    { "-L --src-nat", function() return L{ src_nat = true } end },
    { "-L --src-nat " .. A3, function() return L{ src_nat = A3 } end },
    { "-L --dst-nat", function() return L{ dst_nat = true } end },
    { "-L --any-nat", function() return L{ any_nat = true } end },
    { "-D -s " .. A1, function() return D{ src = src } end },
    { "-L --dst-nat --any-nat", function() return L{ dst_nat = true, any_nat = true } end },
    { "-L --src-nat --any-nat", function() return L{ src_nat = true, any_nat = true } end },
    { "-L --src-nat --dst-nat --any-nat", function() return L{ src_nat = true, dst_nat = true, any_nat = true } end },
    { "-I -s " .. A1 .. " -d " .. A2 .. " --dst-nat " .. AP .. " -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
      function() return I(Tn{ dst_nat = { addr = A3, port = 80 } }) end },
    { "-L --dst-nat " .. AP, function() return L{ dst_nat = AP } end },
    { "-L --any-nat " .. AP, function() return L{ any_nat = AP } end },
    { "-L --dst-nat " .. AP81, function() return L{ dst_nat = AP81 } end },
    { "-L --dst-nat " .. OTHER80, function() return L{ dst_nat = OTHER80 } end },
  })
  local base = OTHER80:gsub("80$", "")
  for _, bad in ipairs { base, base .. ":", base .. "80:80", base .. "65536" } do
    add(file, { { "-L --dst-nat " .. bad, function() return L{ dst_nat = bad } end } })
  end
  add(file, { { "-D -s " .. A1, function() return D{ src = src } end } })
end
natfile("03nat", "1.1.1.1", "2.2.2.2", "3.3.3.3", "3.3.3.3:80", "3.3.3.3:81", "1.1.1.1:80")
natfile("07nat6", V6A, V6B, V6C, "[" .. V6C .. "]:80", "[" .. V6C .. "]:81", "[" .. V6A .. "]:80", true)
add("07nat6", {
  { "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat 3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(T6{ dst_nat = "3.3.3.3" }) end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 --dst-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(T{ dst_nat = V6C }) end },
  { "-I -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 --dst-nat [2001:DB8::3.3.3.3] -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(T6{ dst_nat = "[" .. V6C .. "]" }) end },
  { "-I -s [2001:DB8::1.1.1.1] -d 2001:DB8::2.2.2.2 --dst-nat 2001:DB8::3.3.3.3 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return I(T6{ src = "[" .. V6A .. "]", dst_nat = V6C }) end },
})

add("04zone", {
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --zone 1", function() return I(T{ zone = 1 }) end },
  { "-L --zone 1", function() return L{ zone = 1 } end },
  { "-L --zone 0", function() return L{ zone = 0 } end },
  { "-D --zone 1", function() return D{ zone = 1 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --orig-zone 2",
    function() return I{ proto = "tcp", orig = { src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20, zone = 2 },
                          state = "LISTEN", status = SR, timeout = 50 } end },
  { "-L --orig-zone 2", function() return L{ orig = { zone = 2 } } end },
  { "-L --orig-zone 0", function() return L{ orig = { zone = 0 } } end },
  { "-D --orig-zone 2", function() return D{ orig = { zone = 2 } } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --reply-zone 3",
    function() return I{ proto = "tcp", orig = { src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20 },
                          reply = { src = "2.2.2.2", dst = "1.1.1.1", sport = 20, dport = 10, zone = 3 },
                          state = "LISTEN", status = SR, timeout = 50 } end },
  { "-L --reply-zone 3", function() return L{ reply = { zone = 3 } } end },
  { "-L --reply-zone 0", function() return L{ reply = { zone = 0 } } end },
  { "-D --reply-zone 3", function() return D{ reply = { zone = 3 } } end },
})

local MARKF = with(tcp12, {})
add("05mark", {
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --mark 42", function() return I(T{ mark = 42 }) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42", function() return L(with(MARKF, { mark = 42 })) end },
  { "-L --mark 42", function() return L{ mark = 42 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --mark 42/0xffffffff", function() return I(T{ mark = 42 }) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42/0xffffffff", function() return D(with(MARKF, { mark = { value = 42, mask = 0xffffffff } })) end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --mark 417889/0xffffffff", function() return I(T{ mark = 417889 }) end },
  { "-D --mark 417889", function() return D{ mark = 417889 } end },
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50 --mark 0xffffffff", function() return I(T{ mark = 0xffffffff }) end },
  { "-U -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 0/0xffff0000", function() return U(MARKF, { mark = 0, mask = 0xffff0000 }) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 0x0000ffff", function() return L(with(MARKF, { mark = 0xffff })) end },
  { "-U -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42/0xffff", function() return U(MARKF, { mark = 42, mask = 0xffff }) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42/0x0000ffff", function() return L(with(MARKF, { mark = { value = 42, mask = 0xffff } })) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42/42", function() return L(with(MARKF, { mark = { value = 42, mask = 42 } })) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 2/2", function() return L(with(MARKF, { mark = { value = 2, mask = 2 } })) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 2/3", function() return L(with(MARKF, { mark = { value = 2, mask = 3 } })) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 2/0xf", function() return L(with(MARKF, { mark = { value = 2, mask = 0xf } })) end },
  { "-U -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42", function() return U(MARKF, { mark = 42 }) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --mark 42", function() return D(with(MARKF, { mark = 42 })) end },
})

add("06update", {
  { "-I -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state SYN_RECV -u SEEN_REPLY,ASSURED -t 50",
    function() return I(T{ state = "SYN_RECV", status = { seen_reply = true, assured = true } }) end },
  { "-L -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return L(tcp12) end },
  { "-U -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 -u FIXED_TIMEOUT", function() return U(tcp12, { status = { fixed_timeout = true } }) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp12) end },
})

local zone123 = function(t) return with(t, { zone = 123 }) end
add("08stdin", {
  four("-I", nil, "batch"), { RUN[1] },
  four("-I"),
  { FOUR[1], function() return I(T()) end, batch = true }, { RUN[1] },
  { FOUR[2], function() return I(with(rev, { state = "LISTEN", status = SR, timeout = 50 })) end, batch = true }, { RUN[1] },
  { FOUR[3], function() return I(T6()) end, batch = true }, { RUN[1] },
  { FOUR[4], function() return I(with(icmp, { timeout = 29, status = SR })) end, batch = true }, { RUN[1] },
  dfour(nil, "batch"), { RUN[1] },
  four("-I"),
  dfour(nil, "batch"), { RUN[1] },
  { "-D -w 123", function() return D{ zone = 123 } end },
  { "-D -w 123", function() return D{ zone = 123 } end, batch = true }, { RUN[1] },
  { "-D -w 123", function() return D{ zone = 123 } end, batch = true },
  { "-I -w 123 -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return I(zone123(T())) end, batch = true },
  { RUN[1] },
  { "-D -w 123", function() return D{ zone = 123 } end, batch = true }, { RUN[1] },
  { "-D -w 123", function() return D{ zone = 123 } end, batch = true }, { RUN[1] },
  { "-D -w 123", function() return D{ zone = 123 } end },
  four("-A", nil, "batch"), { RUN[1] },
  four("-I"),
  four("-A", nil, "batch"), { RUN[1] },
  dfour(nil, "batch"), { RUN[1] },
})

local function copy_step(cmd, f, delete, sed)
  return { cmd, function() return save_to(f, 11, delete) end, pipe = sed }
end
local W = "s/-w 10/-w 11/g"
local WD = "s/-w 10/-w 11/g; s/-D /-I /g"
local function zdel(zone) return dfour(zone, nil, true) end  -- with --state/-u too
add("09dumpopt", {
  four("-I", 10, "batch"), { RUN[1] },
  copy_step("-L -w 10 -o save -f ipv4", { zone = 10, family = "ipv4" }, false, W), { RUN[1] },
  copy_step("-L -w 10 -o save -f ipv6", { zone = 10, family = "ipv6" }, false, W), { RUN[1] },
  four("-I", 11),
  dfour(11), dfour(10),
  four("-I", 10, "batch"), { RUN[1] },
  copy_step("-D -w 10 -o save -f ipv4", { zone = 10, family = "ipv4" }, true, WD), { RUN[1] },
  copy_step("-D -w 10 -o save -f ipv6", { zone = 10, family = "ipv6" }, true, WD), { RUN[1] },
  four("-I", 11),
  dfour(11), dfour(10),
  four("-I", 10),
  copy_step("-L -w 10 -o save", { zone = 10 }, false, W), { RUN[1] }, zdel(11),
  copy_step("-L -w 10 -o save -f ipv4", { zone = 10, family = "ipv4" }, false, W), { RUN[1] }, zdel(11),
  copy_step("-L -w 10 -o save -f ipv6", { zone = 10, family = "ipv6" }, false, W), { RUN[1] }, zdel(11),
  copy_step("-L -w 10 -o save", { zone = 10 }, false, W), { RUN[1] },
  { "-D -w 11", function() return D{ zone = 11 } end }, zdel(11),
  copy_step("-L -w 10 -o save", { zone = 10 }, false, W), { RUN[1] },
  { "-D -w 11 -f ipv4", function() return D{ zone = 11, family = "ipv4" } end }, zdel(11),
  copy_step("-L -w 10 -o save", { zone = 10 }, false, W), { RUN[1] },
  { "-D -w 11 -f ipv6", function() return D{ zone = 11, family = "ipv6" } end }, zdel(11),
  { "-D -w 10", function() return D{ zone = 10 } end },
  { "-I -w 10 -t 59 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return I(igmp(2, { zone = 10, timeout = 59 })) end, batch = true },
  { "-I -w 10 -t 59 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return I(igmp(200, { zone = 10, timeout = 59 })) end, batch = true },
  { "-I -w 10 -t 59 -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p 200", function() return I(with(p200v6, { zone = 10, timeout = 59 })) end, batch = true },
  { RUN[1] },
  copy_step("-L -w 10 -o save", { zone = 10 }, false, W), { RUN[1] },
  { "-D -w 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return D(with(igmpf(2), { zone = 10 })) end },
  { "-D -w 10 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return D(with(igmpf(200), { zone = 10 })) end },
  { "-D -w 10 -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p 200", function() return D(with(p200v6, { zone = 10 })) end },
  { "-D -w 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 2", function() return D(with(igmpf(2), { zone = 11 })) end },
  { "-D -w 11 -s 0.0.0.0 -d 224.0.0.22 -r 224.0.0.22 -q 0.0.0.0 -p 200", function() return D(with(igmpf(200), { zone = 11 })) end },
  { "-D -w 11 -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p 200", function() return D(with(p200v6, { zone = 11 })) end },
})

local tcpA = function(t) return with(tcp12, with({ state = "LISTEN", status = SR }, t)) end
add("10add", {
  { "-A -s 1.1.1.1 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A{ proto = "tcp", src = "1.1.1.1", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-A -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A{ proto = "tcp", dst = "2.2.2.2", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A{ src = "1.1.1.1", dst = "2.2.2.2", sport = 10, dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --dport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A{ proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", dport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 20 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A{ proto = "tcp", src = "1.1.1.1", dst = "2.2.2.2", sport = 20, state = "LISTEN", status = SR, timeout = 50 } end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY", function() return A(tcpA()) end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return A(T()) end },
  { "-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return A(T()) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp12) end },
  { "-D -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp12) end },
  { "-A -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A(with(rev, { state = "LISTEN", status = SR, timeout = 50 })) end },
  { "-A -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21 --state LISTEN -u SEEN_REPLY -t 50",
    function() return A(with(rev, { state = "LISTEN", status = SR, timeout = 50 })) end },
  { "-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21", function() return D(revf) end },
  { "-D -r 2.2.2.2 -q 1.1.1.1 -p tcp --reply-port-src 11 --reply-port-dst 21", function() return D(revf) end },
  { "-A -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return A(T6()) end },
  { "-A -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return A(T6()) end },
  { "-D -s 2001:DB8::1.1.1.1 -d 2001:DB8::2.2.2.2 -p tcp --sport 10 --dport 20", function() return D(tcp6) end },
  { "-A -s 2001:DB8::1.1.1.1 -d 2.2.2.2 -p tcp --sport 10 --dport 20 --state LISTEN -u SEEN_REPLY -t 50", function() return A(T{ src = V6A }) end },
  { "-A -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
    function() return A(with(icmp, { timeout = 29, status = SR })) end },
  { "-A -t 29 -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226",
    function() return A(with(icmp, { timeout = 29, status = SR })) end },
  { "-D -u SEEN_REPLY -s 1.1.1.1 -d 2.2.2.2 -r 2.2.2.2 -q 1.1.1.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 1226", function() return D(icmpf) end },
})

-- ---------------------------------------------------------------- the runner

local ORDER = { "00create", "01delete", "02filter", "03nat", "04zone", "05mark", "06update",
                "07nat6", "08stdin", "09dumpopt", "10add" }
local NS = "nsenter --net=/proc/" .. ORACLE .. "/ns/net "
local n, failed = 0, 0
local function tap(ok, desc, diag)
  n = n + 1
  if not ok then failed = failed + 1 end
  print((ok and "ok - " or "not ok - ") .. desc)
  if not ok and diag then print((diag:gsub("\n", "\n# "):gsub("^", "# "))) end
end
local function sh(cmd, input)
  local tmp
  if input then
    tmp = os.tmpname()
    local f = assert(io.open(tmp, "w")) f:write(input) f:close()
    cmd = cmd .. " < " .. tmp
  end
  local p = assert(io.popen(cmd .. " 2>/dev/null; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  if tmp then os.remove(tmp) end
  local body, rc = out:match("^(.-)rc=(%d+)\n?$")
  return body, tonumber(rc)
end
-- The table, as conntrack -L prints it, without the timeouts (they tick), sorted.
local function table_of(prefix)
  local out = sh(prefix .. "conntrack -L")
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = (l:gsub("^(%S+%s+%d+) %d+ ", "%1 T ")) end
  table.sort(lines)
  return table.concat(lines, "\n")
end
local function run_ctlua(fn)
  local ok, r = pcall(fn)
  return ok and r and true or false
end

for _, file in ipairs(ORDER) do
  sh("conntrack -F"); sh(NS .. "conntrack -F")
  local batch_o, batch_c = {}, {}
  for i, st in ipairs(S[file]) do
    local cmd, fn = st[1], st[2]
    if st.batch then
      batch_o[#batch_o + 1] = cmd
      batch_c[#batch_c + 1] = fn
    else
      local res_o, res_c
      if st.pipe then
        local out = sh(NS .. "conntrack " .. cmd .. " | sed '" .. st.pipe .. "'")
        for l in out:gmatch("[^\n]+") do batch_o[#batch_o + 1] = l end
        local ok, later = pcall(fn)
        res_o, res_c = "OK", ok and "OK" or "BAD"
        if ok then for _, f in ipairs(later) do batch_c[#batch_c + 1] = f end end
      elseif cmd == "-R -" then
        local _, rc = sh(NS .. "conntrack -R -", table.concat(batch_o, "\n") .. "\n")
        res_o = rc == 0 and "OK" or "BAD"
        BATCH = true
        local all = true
        for _, f in ipairs(batch_c) do
          if not run_ctlua(f) then all = false break end
        end
        BATCH = false
        res_c = all and "OK" or "BAD"
        batch_o, batch_c = {}, {}
      else
        local _, rc = sh(NS .. "conntrack " .. cmd)
        res_o = rc == 0 and "OK" or "BAD"
        res_c = run_ctlua(fn) and "OK" or "BAD"
      end
      local t_o, t_c = table_of(NS), table_of("")
      tap(res_o == res_c and t_o == t_c,
          string.format("%s step %d: %s: conntrack %s, ctlua %s%s", file, i, cmd, res_o, res_c,
                        t_o == t_c and ", same table" or ", tables differ"),
          t_o ~= t_c and ("conntrack:\n" .. t_o .. "\nctlua:\n" .. t_c) or nil)
    end
  end
end

-- Coverage: every step of the reference files, in order, has its translation here.
if REFDIR and REFDIR ~= "" then
  for _, file in ipairs(ORDER) do
    local f = io.open(REFDIR .. "/" .. file)
    if not f then
      tap(false, "reference file " .. file .. " is readable")
    else
      local ref = {}
      for l in f:lines() do
        l = l:gsub("^%s+", "")
        if l ~= "" and not l:match("^#") then
          local c = l:match("^([^;]*);") or l
          c = c:gsub("^conntrack%s+", ""):gsub("%s+$", ""):gsub("%s+", " ")
          if c ~= "" then ref[#ref + 1] = c end
        end
      end
      f:close()
      local mine = {}
      for _, st in ipairs(S[file]) do mine[#mine + 1] = (st[1]:gsub("%s+", " ")) end
      local first
      for k = 1, math.max(#ref, #mine) do
        if ref[k] ~= mine[k] then first = k break end
      end
      tap(first == nil, string.format("every step of %s (%d) has its translation, in order", file, #ref),
          first and string.format("step %d: reference '%s', translated '%s'", first, tostring(ref[first]), tostring(mine[first])))
    end
  end
end
print("1.." .. n)
