-- check_events.lua EVENTS.json TGEN.out FAMILY — asserts the exact fields ctlua handed
-- to the script for the traffic tgen made (one line per operation in TGEN.out).
package.path = arg[0]:gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local T = require "tap"
local cjson = require "cjson"  -- note: decodes every number as a float

local evfile, tgenfile, family = arg[1], arg[2], arg[3]
local events = {}
for line in io.lines(evfile) do events[#events + 1] = cjson.decode(line) end
local ops = {}
for line in io.lines(tgenfile) do
  local w = {}
  for x in line:gmatch("%S+") do w[#w + 1] = tonumber(x) or x end
  ops[#ops + 1] = w
end

local v6 = family == "ipv6"
local function flow(proto, f)
  local out = {}
  for _, ev in ipairs(events) do
    if ev.proto == proto and ev.orig and f(ev.orig) then out[#out + 1] = ev end
  end
  return out
end
local function kinds(list)
  local k = {}
  for _, ev in ipairs(list) do k[#k + 1] = ev.event end
  return table.concat(k, " ")
end
local function one_id(list)
  for _, ev in ipairs(list) do if ev.id ~= list[1].id then return false end end
  return type(list[1].id) == "number" and list[1].id == math.floor(list[1].id)
end

for _, op in ipairs(ops) do
  local kind, addr = op[1], op[2]
  if kind == "tcp" or kind == "udp" then
    local sport, dport = op[3], op[4]
    local evs = flow(kind, function(o) return o.sport == sport and o.dport == dport end)
    local tag = string.format("%s %s %d->%d", kind, addr, sport, dport)
    T.ok(#evs >= 3, tag .. ": new, update(s), destroy seen")
    local new, last = evs[1] or {}, evs[#evs] or {}
    T.is(new.event, "new", tag .. ": first event is new")
    T.is(last.event, "destroy", tag .. ": last event is destroy")
    T.is({ new.family, new.proto, new.protonum }, { family, kind, kind == "tcp" and 6 or 17 },
         tag .. ": family, proto, protonum")
    T.is(new.orig, { src = addr, dst = addr, sport = sport, dport = dport }, tag .. ": orig tuple")
    T.is(new.reply, { src = addr, dst = addr, sport = dport, dport = sport }, tag .. ": reply tuple")
    T.ok(type(new.timeout) == "number" and new.timeout > 0, tag .. ": new has timeout > 0")
    T.is(new.status, { confirmed = true }, tag .. ": new status is confirmed, not seen_reply")
    T.ok(one_id(evs), tag .. ": one conntrack id across the flow's events")
    T.ok(last.timeout == nil, tag .. ": natural-expiry destroy carries no timeout")
    T.ok(type(new.time) == "number" and new.time <= last.time, tag .. ": receive times in order")
    if kind == "tcp" then
      T.is(new.state, "SYN_SENT", tag .. ": new state SYN_SENT")
      local states = {}
      for i = 2, #evs - 1 do states[#states + 1] = evs[i].state end
      T.is(states[1], "SYN_RECV", tag .. ": first update SYN_RECV")
      local est
      for i = 2, #evs do if evs[i].state == "ESTABLISHED" then est = evs[i] break end end
      T.ok(est and est.status.assured and est.status.seen_reply, tag .. ": ESTABLISHED update is assured and seen_reply")
      T.is(evs[#evs - 1].state, "TIME_WAIT", tag .. ": last update TIME_WAIT")
    else
      T.ok(new.state == nil, tag .. ": udp has no state")
      T.ok(evs[2].event == "update" and evs[2].status.seen_reply, tag .. ": reply makes an update with seen_reply")
    end
  elseif kind == "icmp" then
    local id = op[3]
    local proto = v6 and "icmpv6" or "icmp"
    local evs = flow(proto, function(o) return o.id == id end)
    local tag = string.format("%s %s id=%d", proto, addr, id)
    T.is(kinds(evs), "new update destroy", tag .. ": new, update, destroy")
    local new = evs[1] or {}
    T.is({ new.family, new.proto, new.protonum }, { family, proto, v6 and 58 or 1 }, tag .. ": family, proto, protonum")
    T.is(new.orig, { src = addr, dst = addr, type = v6 and 128 or 8, code = 0, id = id }, tag .. ": orig type/code/id")
    T.is(new.reply, { src = addr, dst = addr, type = v6 and 129 or 0, code = 0, id = id }, tag .. ": reply type/code/id")
    T.ok(new.timeout and new.timeout > 0, tag .. ": timeout > 0")
  elseif kind == "ftp" then
    local sport, port, dataport = op[3], op[4], op[5]
    local tag = string.format("ftp %s %d->%d data %d", addr, sport, port, dataport)
    local ctl = flow("tcp", function(o) return o.sport == sport and o.dport == port end)
    T.is(ctl[1] and ctl[1].helper, "ftp", tag .. ": control connection has helper=ftp")
    local exp, expd
    for _, ev in ipairs(events) do
      if ev.tuple and ev.tuple.dport == dataport and ev.master and ev.master.sport == sport then
        if ev.event == "expect-new" then exp = ev elseif ev.event == "expect-destroy" then expd = ev end
      end
    end
    T.ok(exp ~= nil, tag .. ": expect-new seen")
    exp = exp or {}
    T.is({ exp.family, exp.proto, exp.protonum, exp.helper, exp.class },
         { family, "tcp", 6, "ftp", 0 }, tag .. ": expectation family, proto, helper, class")
    T.is(exp.tuple, { src = addr, dst = addr, sport = 0, dport = dataport }, tag .. ": expected tuple")
    local full = v6 and "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" or "255.255.255.255"
    T.is(exp.mask, { src = full, dst = full, sport = 0, dport = 65535 }, tag .. ": mask")
    T.is(exp.master, { src = addr, dst = addr, sport = sport, dport = port, proto = "tcp", protonum = 6 },
         tag .. ": master tuple")
    T.ok(exp.timeout and exp.timeout > 0, tag .. ": expectation timeout > 0")
    T.ok(type(exp.flags) == "table", tag .. ": flags is a set")
    T.ok(expd ~= nil, tag .. ": expect-destroy seen")
    if op[6] == "data" or #flow("tcp", function(o) return o.dport == dataport end) > 0 then
      local data = flow("tcp", function(o) return o.dport == dataport end)
      T.ok(data[1] and data[1].status.expected, tag .. ": data connection has status.expected")
    end
  end
end
T.done()
