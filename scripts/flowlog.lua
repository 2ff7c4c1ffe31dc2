-- flowlog.lua — one record per finished flow, from DESTROY events: duration,
-- packets and bytes each way, and the states it went through.
--
--   ctlua scripts/flowlog.lua -- [--json] [--enable]
--     --json     one JSON object per flow instead of text
--     --enable   switch nf_conntrack_acct and nf_conntrack_timestamp on in the watched
--                namespace while running, and restore them at stop
--
-- Counters and kernel timestamps come only with nf_conntrack_acct=1 and
-- nf_conntrack_timestamp=1; without them the script warns once, takes the duration
-- from the NEW event it saw (or none), and leaves the counters out.
--
-- Example output:
--   flow tcp 10.0.0.1:43001 -> 10.0.0.2:80 duration=1.042s orig=6p/326B reply=4p/222B states=SYN_SENT,SYN_RECV,ESTABLISHED,FIN_WAIT,LAST_ACK,TIME_WAIT
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/flowlog.lua -- [--json] [--enable]"
local opt = require("ctlua.args").parse({ ... }, { json = { "flag" }, enable = { "flag" } }, USAGE)

local SYS = "/proc/sys/net/netfilter/nf_conntrack_"
local function sysctl(name, value)
  local f = io.open(SYS .. name, value and "w" or "r")
  if not f then return nil end
  local v
  if value then f:write(value) else v = f:read("l") end
  f:close()
  return v
end

local restore = {}
if opt.enable and ct.mode == "live" then   -- never this host's sysctls for a recording
  for _, k in ipairs { "acct", "timestamp" } do
    local old = sysctl(k)
    if old and old ~= "1" then restore[k] = old; sysctl(k, "1") end
  end
  ct.on("stop", function() for k, v in pairs(restore) do sysctl(k, v) end end)
end

-- What was seen of each flow before its DESTROY: first time and state history.
-- Keyed by conntrack id, or by the original tuple when replaying text without ids.
local flows = ct.state { ttl = 6 * 3600, max_keys = 500000 }
local function key(ev)
  if ev.id then return ev.id end
  local o = ev.orig or {}
  return table.concat({ ev.proto or "", o.src or "", o.dst or "", tostring(o.sport or o.type),
                        tostring(o.dport or o.id) }, " ")
end
local function track(ev)
  local k = key(ev)
  local f = flows:get(k)
  if not f then f = { first = ev.time, states = {} } end
  local s = ev.state
  if s and f.states[#f.states] ~= s then f.states[#f.states + 1] = s end
  flows:set(k, f)
  return k, f
end
ct.on("new", track)
ct.on("update", track)

local warned = false
local function ep(t, k)
  if t[k] == nil then return t[k == "sport" and "src" or "dst"] or "?" end   -- ICMP: no ports
  return (t[k == "sport" and "src" or "dst"] or "?") .. ":" .. t[k]
end

ct.on("destroy", function(ev)
  local k, f = track(ev)
  flows:delete(k)
  local o, r = ev.orig or {}, ev.reply or {}
  if not warned and (o.packets == nil or ev.start == nil) then
    warned = true
    ct.log.warn("flowlog: %s off: set net.netfilter.nf_conntrack_%s=1 (or run with --enable)",
      o.packets == nil and "counters are" or "timestamps are", o.packets == nil and "acct" or "timestamp")
  end
  local duration
  if ev.start and ev.stop then duration = ev.stop - ev.start
  elseif f.first and ev.time then duration = ev.time - f.first end
  local rec = {
    proto = ev.proto, family = ev.family, id = ev.id,
    src = o.src, dst = o.dst, sport = o.sport, dport = o.dport,
    reply_src = r.src, reply_dst = r.dst, reply_sport = r.sport, reply_dport = r.dport,
    duration = duration, orig_packets = o.packets, orig_bytes = o.bytes,
    reply_packets = r.packets, reply_bytes = r.bytes, states = ct.array(f.states), mark = ev.mark,
  }
  if opt.json then
    print(ct.json(rec))
  else
    print(string.format("flow %s %s -> %s duration=%s orig=%s reply=%s states=%s", ev.proto,
      ep(o, "sport"), ep(o, "dport"),
      duration and string.format("%.3fs", duration) or "?",
      o.packets and (o.packets .. "p/" .. o.bytes .. "B") or "?",
      r.packets and (r.packets .. "p/" .. r.bytes .. "B") or "?",
      #f.states > 0 and table.concat(f.states, ",") or "-"))
  end
  io.stdout:flush()
end)
