-- ctlua.parse: line kinds the recorded fixtures do not have (SCTP, DCCP, UDP-Lite,
-- zones, secmark, labels, flags), each parsed to the right fields and formatted back
-- byte for byte.
local dir = arg[0]:gsub("[^/]*$", "")
package.path = dir .. "../lib/?.lua;" .. dir .. "../../lua/?.lua;" .. package.path
local T = require "tap"
local parse = require("ctlua.parse").parse
local format = ct.format     -- run inside ctlua (parse.t): the C formatter

local cases = {
  { "    [NEW] sctp     132 10 COOKIE_WAIT src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=36412 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=36412 dport=5000",
    function(e) return e.proto == "sctp" and e.protonum == 132 and e.state == "COOKIE_WAIT" and e.orig.dport == 36412 and not e.status.seen_reply end },
  { " [UPDATE] dccp     33 300 OPEN src=fd00::1 dst=fd00::2 sport=1 dport=2 src=fd00::2 dst=fd00::1 sport=2 dport=1 [ASSURED] mark=3",
    function(e) return e.family == "ipv6" and e.state == "OPEN" and e.status.assured and e.mark == 3 end },
  { "    [NEW] udplite  136 30 src=10.0.0.1 dst=10.0.0.2 sport=7 dport=8 zone-orig=4 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=8 dport=7 zone-reply=5 zone=9",
    function(e) return e.proto == "udplite" and e.orig.zone == 4 and e.reply.zone == 5 and e.zone == 9 end },
  { "[DESTROY] tcp      6 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 packets=3 bytes=180 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 packets=2 bytes=120 [ASSURED] mark=1 secmark=7 secctx=system_u:object_r:x_t zone=2 delta-time=12 helper=ftp labels=blocked,seen",
    function(e) return e.orig.packets == 3 and e.reply.bytes == 120 and e.secmark == 7 and e.secctx == "system_u:object_r:x_t"
      and e.stop - e.start == 12 and e.helper == "ftp" and e.labels.blocked and e.labels.seen end,
    { labels = true } },
  { "    [NEW] icmpv6   58 30 src=fd00::1 dst=fd00::2 type=128 code=0 id=9 [UNREPLIED] src=fd00::2 dst=fd00::1 type=129 code=0 id=9 [USERSPACE] portid=42",
    function(e) return e.proto == "icmpv6" and e.orig.type == 128 and e.reply.type == 129 and e.orig.id == 9 and e.portid == 42 and e.progname == nil end },
  { "[DESTROY] 10 proto=17 src=10.0.0.1 dst=10.0.0.2 sport=0 dport=5060 mask-src=0.0.0.0 mask-dst=255.255.255.255 sport=0 dport=65535 master-src=10.0.0.1 master-dst=10.0.0.2 sport=5060 dport=5060 zone=3 PERMANENT,INACTIVE class=1 helper=sip",
    function(e) return e.event == "expect-destroy" and e.proto == "udp" and e.mask.src == "0.0.0.0" and e.zone == 3
      and e.flags.permanent and e.flags.inactive and not e.flags.userspace and e.class == 1 and e.master.sport == 5060 end },
  { "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [ASSURED] mark=0 use=1",
    function(e) return e.event == nil and e.use == 1 and e.timeout == 431999 end },
}
for i, c in ipairs(cases) do
  local ev, err = parse(c[1])
  T.ok(ev and c[2](ev), "case " .. i .. ": fields of " .. c[1]:sub(1, 24) .. (err and (" (" .. err .. ")") or ""))
  T.is(ev and format(ev, c[3]), c[1], "case " .. i .. ": formats back byte for byte")
end
for _, bad in ipairs { "", "hello world", "    [NEW] tcp      6 120 SYN_SENT src=1.1.1.1", "    [BOGUS] tcp      6 1 src=1.1.1.1 dst=1.1.1.2 sport=1 dport=2 src=1.1.1.2 dst=1.1.1.1 sport=2 dport=1" } do
  T.ok(parse(bad) == nil, "not an event: '" .. bad .. "'")
end
T.done()
