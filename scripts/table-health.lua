-- table-health.lua — the conntrack table's health: how full it is, and the kernel's
-- counters of what went wrong (conntrack -S), with what to do about each.
--
--   ctlua scripts/table-health.lua -- [--interval S] [--fill PCT] [--clear PCT]
--        [--drop R] [--early-drop R] [--insert-failed R] [--top N] [--count N]
--     --interval S       seconds between two reads (default 5)
--     --fill PCT         alert when the table is PCT% full (default 90)
--     --clear PCT        the fill alert clears below PCT% (default: --fill minus 10)
--     --drop R           alert when packets are dropped faster than R/s (default 0: any)
--     --early-drop R     alert when entries are evicted faster than R/s (default 0: any)
--     --insert-failed R  alert when inserts fail faster than R/s (default 1)
--     --top N            sources, destinations and ports listed in a fill alert (default 5)
--     --count N          stop after N reads (default: run until stopped)
-- Each condition alerts once (WARN) when it starts, per namespace (--netns), and
-- says once (INFO) when it has cleared: fill below --clear, a rate at or below its
-- threshold over a whole interval. The fill alert lists what fills the table: the
-- top sources, destinations, ports and states of the live table at that moment, and
-- the timeout (sysctl) of its largest part. Reads per interval: one stats request
-- per namespace; the table is listed only when a fill alert is raised.
--
-- Example output:
--   WARN table-health: table 92% full (942/1024 entries): raise net.netfilter.nf_conntrack_max
--        (now 1024; and nf_conntrack_buckets), or shorten the timeout that keeps most of it:
--        udp (unreplied) 940 -> net.netfilter.nf_conntrack_udp_timeout; top sources 10.0.0.2 940;
--        destinations 10.0.0.1 940; ports udp/53 17, ...
--   WARN table-health: 130 packets dropped in 5 s (26.0/s): the table is full, new connections fail
--   INFO table-health: drops: cleared
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/table-health.lua -- [--interval S] [--fill PCT] [--clear PCT] [--drop R] [--early-drop R] [--insert-failed R] [--top N] [--count N]"
local opt = require("ctlua.args").parse({ ... }, {
  interval = { "number", 5 }, fill = { "number", 90 }, clear = { "number" },
  drop = { "number", 0 }, early_drop = { "number", 0 }, insert_failed = { "number", 1 },
  top = { "number", 5 }, count = { "number" },
}, USAGE)
opt.clear = opt.clear or opt.fill - 10
if not (opt.interval > 0) then require("ctlua.args").fail("--interval must be > 0", USAGE) end
local N = math.tointeger(opt.top) or 5

-- The sysctl that keeps an entry of this kind the longest: what to shorten.
local function timeout_of(e)
  if e.proto == "tcp" then
    local st = (e.state or "established"):lower()
    if st == "syn_sent" or st == "syn_recv" or st == "fin_wait" or st == "close_wait" or
       st == "last_ack" or st == "time_wait" or st == "close" or st == "established" then
      return "net.netfilter.nf_conntrack_tcp_timeout_" .. st
    end
    return "net.netfilter.nf_conntrack_tcp_timeout_established"
  elseif e.proto == "udp" then
    if e.status and e.status.assured then return "net.netfilter.nf_conntrack_udp_timeout_stream" end
    return "net.netfilter.nf_conntrack_udp_timeout"
  elseif e.proto == "icmp" then return "net.netfilter.nf_conntrack_icmp_timeout"
  elseif e.proto == "icmpv6" then return "net.netfilter.nf_conntrack_icmpv6_timeout"
  end
  return "net.netfilter.nf_conntrack_generic_timeout"
end

local function kind_of(e)
  if e.proto == "tcp" then return "tcp " .. (e.state or "?") end
  if e.proto == "udp" then return (e.status and e.status.assured) and "udp (replied)" or "udp (unreplied)" end
  return e.proto or "?"
end

-- Exact counts per key, up to MAX_KEYS different keys (later ones go uncounted:
-- a table of a million distinct ports must not take the memory with it).
local MAX_KEYS = 50000
local function tally() return { n = 0, c = {} } end
local function add(t, k)
  local c = t.c
  if c[k] then c[k] = c[k] + 1
  elseif t.n < MAX_KEYS then c[k] = 1; t.n = t.n + 1 end
end
local function list_text(t)
  local keys = {}
  for k in pairs(t.c) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) if t.c[a] ~= t.c[b] then return t.c[a] > t.c[b] end return a < b end)
  local parts = {}
  for i = 1, math.min(N, #keys) do parts[i] = keys[i] .. " " .. t.c[keys[i]] end
  return #parts > 0 and table.concat(parts, ", ") or "none"
end

-- What fills the table of namespace ns now: one listing.
local function what_fills(ns)
  local src, dst, port, kinds = tally(), tally(), tally(), tally()
  local timeout = {}
  local ok, err = pcall(function()
    for e in ct.entries(ns and { netns = ns } or nil) do
      local o = e.orig or {}
      add(src, o.src or "?"); add(dst, o.dst or "?")
      if o.dport then add(port, e.proto .. "/" .. o.dport) end
      local k = kind_of(e)
      add(kinds, k)
      timeout[k] = timeout[k] or timeout_of(e)
    end
  end)
  if not ok then return "(cannot list the table: " .. tostring(err) .. ")" end
  local big, bign = nil, 0
  for k, n in pairs(kinds.c) do if n > bign or (n == bign and k < big) then big, bign = k, n end end
  local what = big and string.format("%s %d -> %s", big, bign, timeout[big]) or "nothing listed"
  return string.format("%s; top sources %s; destinations %s; ports %s",
                       what, list_text(src), list_text(dst), list_text(port))
end

-- Conditions: name -> {check(sample, last, dt) -> active, text; advice; clear text}
local RATES = {
  { key = "drop", opt = "drop", what = "packets dropped",
    advice = "the table is full, new connections fail: raise net.netfilter.nf_conntrack_max" },
  { key = "early_drop", opt = "early_drop", what = "entries evicted early",
    advice = "the table is full and unassured entries are pushed out to make room: raise net.netfilter.nf_conntrack_max" },
  { key = "insert_failed", opt = "insert_failed", what = "inserts failed",
    advice = "the same tuple was created twice at once, as parallel DNS queries (A and AAAA) over one UDP socket do: the 5-second DNS delay; resolv.conf 'options single-request-reopen' or DNS over TCP avoids it" },
}

local state = {}    -- per namespace: last sums, active conditions

local function label(ns) return ns and (" [netns " .. ns .. "]") or "" end

local function sums(ns)
  local rows, msg = ct.cpu_stats(ns)
  if not rows then return nil, msg end
  local s = {}
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do if k ~= "cpu" then s[k] = (s[k] or 0) + v end end
  end
  return s
end

local function check(ns)
  local key = ns or ""
  local st = state[key]
  if not st then st = { active = {} }; state[key] = st end
  local now = ct.now()
  local s, msg = sums(ns)
  local count, max = ct.count(ns), ct.max(ns)
  if not s or not count or not max then
    if not st.failing then ct.log.error("table-health: cannot read the table's stats%s: %s", label(ns), tostring(msg)) end
    st.failing = true
    return
  end
  st.failing = nil
  local pct = max > 0 and 100 * count / max or 0
  if not st.active.fill and pct >= opt.fill then
    st.active.fill = true
    ct.log.warn("table-health: table %d%% full (%d/%d entries)%s: raise net.netfilter.nf_conntrack_max (now %d; and nf_conntrack_buckets), or shorten the timeout that keeps most of it: %s",
                math.floor(pct), count, max, label(ns), max, what_fills(ns))
  elseif st.active.fill and pct < opt.clear then
    st.active.fill = nil
    ct.log.info("table-health: fill: cleared, %d%% (%d/%d entries)%s", math.floor(pct), count, max, label(ns))
  end
  if st.last then
    local dt = now - st.t
    for _, r in ipairs(RATES) do
      local d = (s[r.key] or 0) - (st.last[r.key] or 0)
      local rate = dt > 0 and d / dt or 0
      if d > 0 and rate > opt[r.opt] then
        if not st.active[r.key] then
          st.active[r.key] = true
          ct.log.warn("table-health: %d %s in %.0f s (%.1f/s)%s: %s", d, r.what, dt, rate, label(ns), r.advice)
        end
      elseif st.active[r.key] then
        st.active[r.key] = nil
        ct.log.info("table-health: %s: cleared%s", r.what, label(ns))
      end
    end
  end
  st.last, st.t = s, now
end

local reads = 0
local function tick(timer)
  -- With --netns each namespace watched; else ours, unnamed.
  local nss = ct.stats().netns and ct.namespaces() or { false }
  for _, ns in ipairs(nss) do check(ns or nil) end
  reads = reads + 1
  if opt.count and reads >= opt.count then
    if timer then timer:stop() end
    ct.stop()
  end
end

ct.after(0, tick)
ct.every(opt.interval, tick)
