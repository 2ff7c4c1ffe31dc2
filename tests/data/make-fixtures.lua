-- tests/data/make-fixtures.lua — writes the synthetic recordings the script tests
-- replay (scan.txt, flood.txt, expect.txt), in conntrack -E -o timestamp text made
-- by ct.format itself. Deterministic: run `lua5.4 tests/data/make-fixtures.lua`.
local dir = arg[0]:gsub("[^/]*$", "")
package.path = dir .. "../../lua/?.lua;" .. package.path
local format = require("ctlua.format").format
local T0 = 1700000000

local function new(t, proto, src, dst, sport, dport)
  local pn = ({ tcp = 6, udp = 17 })[proto]
  return { time = T0 + t, event = "new", family = "ipv4", proto = proto, protonum = pn,
    timeout = proto == "tcp" and 120 or 30, state = proto == "tcp" and "SYN_SENT" or nil,
    orig = { src = src, dst = dst, sport = sport, dport = dport },
    reply = { src = dst, dst = src, sport = dport, dport = sport }, status = { confirmed = true } }
end

local function write(name, events)
  table.sort(events, function(a, b) return a.time < b.time end)
  local f = assert(io.open(dir .. name, "w"))
  for _, ev in ipairs(events) do f:write(format(ev, { timestamp = true }), "\n") end
  f:close()
end

-- A port scan hidden in a minute of ordinary traffic: 10.0.0.66 touches 25 ports of
-- 192.0.2.5 in five seconds; five clients make HTTPS and DNS requests all along.
local ev, sp = {}, 30000
for t = 0, 59, 2 do
  for c = 1, 5 do
    sp = sp + 1
    ev[#ev + 1] = new(t + c / 10, "tcp", "10.0.0." .. c, "192.0.2.1", sp, 443)
    ev[#ev + 1] = new(t + c / 10 + 0.05, "udp", "10.0.0." .. c, "192.0.2.53", sp, 53)
  end
end
for p = 1, 25 do ev[#ev + 1] = new(30 + p / 5, "tcp", "10.0.0.66", "192.0.2.5", 40000 + p, p) end
write("scan.txt", ev)

-- A flood: 10.0.0.9 opens 300 UDP flows a second for 2 s among 5 quiet clients.
ev = {}
for t = 0, 19 do
  for c = 1, 5 do ev[#ev + 1] = new(t + c / 10, "udp", "10.0.0." .. c, "192.0.2.53", 20000 + t * 10 + c, 53) end
end
for i = 0, 599 do ev[#ev + 1] = new(10 + i / 300, "udp", "10.0.0.9", "192.0.2.53", 1024 + i, 53) end
write("flood.txt", ev)

-- Expectations: an ordinary ftp one, a sip one open to any source (wildcard mask),
-- and an ftp one to a port outside the allowed range.
local function exp(t, helper, mask_src, dst, dport, msrc, msport, mdport)
  return { time = T0 + t, event = "expect-new", family = "ipv4", proto = "tcp", protonum = 6,
    timeout = 300, tuple = { src = mask_src == "0.0.0.0" and "0.0.0.0" or msrc, dst = dst, sport = 0, dport = dport },
    mask = { src = mask_src, dst = "255.255.255.255", sport = 0, dport = 65535 },
    master = { src = msrc, dst = dst, sport = msport, dport = mdport, proto = "tcp", protonum = 6 },
    class = 0, helper = helper, flags = {} }
end
write("expect.txt", {
  exp(1, "ftp", "255.255.255.255", "192.0.2.21", 50000, "10.0.0.1", 41000, 21),
  exp(2, "sip", "0.0.0.0", "192.0.2.10", 5060, "198.51.100.7", 5060, 5060),
  exp(3, "ftp", "255.255.255.255", "192.0.2.21", 2222, "10.0.0.2", 41001, 21),
})
