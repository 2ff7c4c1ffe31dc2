-- ct.format on hand-built tables; expected lines are what conntrack 1.4.7 printed
-- for such events (conntrack -E, -E -o id, -E -o timestamp, -E expect) on Debian 12.
-- Run inside ctlua (format.t): ct.format is the C formatter of src/format.c.
package.path = arg[0]:gsub("[^/]*$", "") .. "../lib/?.lua;" .. package.path
local T = require "tap"
local format = ct.format

local t4 = function(s, d, sp, dp) return { src = s, dst = d, sport = sp, dport = dp } end

T.is(format({ event = "new", family = "ipv4", proto = "tcp", protonum = 6, timeout = 100,
  state = "ESTABLISHED", orig = t4("1.1.1.1", "2.2.2.2", 1, 2), reply = t4("2.2.2.2", "1.1.1.1", 2, 1),
  status = { assured = true, seen_reply = true, confirmed = true }, mark = 6, zone = 3,
  id = 4229336168, portid = 5525 }),
  "    [NEW] tcp      6 100 ESTABLISHED src=1.1.1.1 dst=2.2.2.2 sport=1 dport=2 src=2.2.2.2 dst=1.1.1.1 sport=2 dport=1 [ASSURED] mark=6 zone=3 [USERSPACE] portid=5525",
  "mark, zone and [USERSPACE] without a resolvable progname")

local gre = { event = "new", family = "ipv4", proto = "gre", protonum = 47, timeout = 100,
  orig = t4("1.1.1.1", "2.2.2.2", 16, 32), reply = t4("2.2.2.2", "1.1.1.1", 32, 16),
  status = { confirmed = true }, mark = 0, id = 191047181, portid = 5527, progname = "conntrack" }
T.is(format(gre),
  "    [NEW] gre      47 100 src=1.1.1.1 dst=2.2.2.2 srckey=0x10 dstkey=0x20 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 srckey=0x20 dstkey=0x10 mark=0 [USERSPACE] portid=5527 progname=conntrack",
  "gre keys in hex, [UNREPLIED], progname")
T.is(format(gre, { id = true }),
  "    [NEW] gre      47 100 src=1.1.1.1 dst=2.2.2.2 srckey=0x10 dstkey=0x20 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 srckey=0x20 dstkey=0x10 mark=0 id=191047181 [USERSPACE] portid=5527 progname=conntrack",
  "opts.id puts id= before [USERSPACE] (-o id)")

T.is(format({ event = "new", family = "ipv4", proto = "99", protonum = 99, timeout = 100,
  orig = { src = "1.1.1.1", dst = "2.2.2.2" }, reply = { src = "2.2.2.2", dst = "1.1.1.1" },
  status = { confirmed = true }, mark = 0, portid = 5533, progname = "conntrack" }),
  "    [NEW] unknown  99 100 src=1.1.1.1 dst=2.2.2.2 [UNREPLIED] src=2.2.2.2 dst=1.1.1.1 mark=0 [USERSPACE] portid=5533 progname=conntrack",
  "unknown protocol")

local icmp = { event = "update", family = "ipv4", proto = "icmp", protonum = 1, timeout = 30,
  orig = { src = "127.0.0.1", dst = "127.0.0.1", type = 8, code = 0, id = 5535 },
  reply = { src = "127.0.0.1", dst = "127.0.0.1", type = 0, code = 0, id = 5535 },
  status = { seen_reply = true, confirmed = true }, id = 3392111654, time = 1795553198.399290 }
T.is(format(icmp, { timestamp = true }),
  "[1795553198.399290]\t [UPDATE] icmp     1 30 src=127.0.0.1 dst=127.0.0.1 type=8 code=0 id=5535 src=127.0.0.1 dst=127.0.0.1 type=0 code=0 id=5535",
  "opts.timestamp prefix (-o timestamp)")

T.is(format({ event = "destroy", family = "ipv6", proto = "udp", protonum = 17,
  orig = { src = "::1", dst = "::1", sport = 43002, dport = 5353, packets = 1, bytes = 52 },
  reply = { src = "::1", dst = "::1", sport = 5353, dport = 43002, packets = 1, bytes = 52 },
  status = { seen_reply = true, confirmed = true }, start = 1795553000.9, stop = 1795553002.1,
  helper = "x" }),
  "[DESTROY] udp      17 src=::1 dst=::1 sport=43002 dport=5353 packets=1 bytes=52 src=::1 dst=::1 sport=5353 dport=43002 packets=1 bytes=52 delta-time=2 helper=x",
  "destroy without timeout: counters, delta-time in whole seconds, helper")

T.is(format({ event = "expect-new", family = "ipv6", proto = "tcp", protonum = 6, timeout = 300,
  tuple = t4("::1", "::1", 0, 43745),
  mask = t4("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 65535),
  master = { src = "::1", dst = "::1", sport = 47772, dport = 2121, proto = "tcp", protonum = 6 },
  class = 0, helper = "ftp", flags = {} }),
  "    [NEW] 300 proto=6 src=::1 dst=::1 sport=0 dport=43745 mask-src=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff mask-dst=ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff sport=0 dport=65535 master-src=::1 master-dst=::1 sport=47772 dport=2121 class=0 helper=ftp",
  "IPv6 expectation")
T.is(format({ event = "expect-destroy", protonum = 6, timeout = 10,
  tuple = t4("1.2.3.4", "5.6.7.8", 0, 99), mask = t4("255.255.255.255", "255.255.255.255", 0, 65535),
  master = t4("1.2.3.4", "5.6.7.8", 1000, 21), zone = 2,
  flags = { permanent = true, userspace = true }, class = 1 }),
  "[DESTROY] 10 proto=6 src=1.2.3.4 dst=5.6.7.8 sport=0 dport=99 mask-src=255.255.255.255 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=1.2.3.4 master-dst=5.6.7.8 sport=1000 dport=21 zone=2 PERMANENT,USERSPACE class=1",
  "expectation zone and flags (library order)")
T.raises(function() format(nil) end, "bad argument #1 to 'format'", "format rejects a non-table")
T.done()
