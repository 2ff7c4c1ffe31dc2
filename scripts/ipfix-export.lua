-- ipfix-export.lua — export every finished flow to an IPFIX collector (nfcapd,
-- nfacctd, ElastiFlow, GoFlow...), as ulogd2's NFCT + IPFIX does, with a Lua
-- filter and sampling in front.
--
--   ctlua scripts/ipfix-export.lua -- --collector HOST:PORT [--transport udp|tcp]
--        [--domain N] [--refresh S] [--proto P]... [--sample N] [--min-bytes B]
--     --collector HOST:PORT  where to send (required), e.g. 127.0.0.1:4739
--     --transport udp|tcp    default udp
--     --domain N             observation domain id (default 1)
--     --refresh S            resend templates every S seconds over UDP (default 600)
--     --proto P              only this protocol (repeatable: --proto tcp --proto udp)
--     --sample N             export 1 flow in N, chosen by conntrack id (default 1: all)
--     --min-bytes B          only flows that moved at least B bytes both ways together
--
-- Byte and packet counts need nf_conntrack_acct=1; exact start times need
-- nf_conntrack_timestamp=1 (else the time ctlua saw the NEW event is used).
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/ipfix-export.lua -- --collector HOST:PORT [--transport udp|tcp] [--domain N] [--refresh S] [--proto P]... [--sample N] [--min-bytes B]"
local args = require "ctlua.args"
local opt = args.parse({ ... }, {
  collector = { "string" }, transport = { "string", "udp" }, domain = { "number", 1 },
  refresh = { "number", 600 }, proto = { "list" }, sample = { "number", 1 },
  min_bytes = { "number", 0 },
}, USAGE)
if not opt.collector then args.fail("--collector is required", USAGE) end

-- This host's sysctls say nothing about a recording (--replay) or a --check.
for _, k in ipairs(ct.mode == "live" and { "acct", "timestamp" } or {}) do
  local f = io.open("/proc/sys/net/netfilter/nf_conntrack_" .. k)
  local on = f and f:read("l")
  if f then f:close() end
  if on == "0" then
    ct.log.warn("ipfix-export: nf_conntrack_%s is off: %s", k,
                k == "acct" and "byte and packet counts will be 0 (sysctl -w net.netfilter.nf_conntrack_acct=1)"
                or "start times are when ctlua saw the flow (sysctl -w net.netfilter.nf_conntrack_timestamp=1)")
  end
end

local x = assert(ct.ipfix {
  collector = opt.collector, transport = opt.transport, domain = math.tointeger(opt.domain),
  template_refresh = opt.refresh,
})
local filter = #opt.proto > 0 and { proto = opt.proto } or nil
local sample = math.tointeger(opt.sample) or 1

ct.on("destroy", filter, function(ev)
  if sample > 1 and (ev.id or 0) % sample ~= 0 then return end
  if opt.min_bytes > 0 and (ev.orig.bytes or 0) + (ev.reply.bytes or 0) < opt.min_bytes then return end
  x:export(ev)
end)

ct.on("stop", function()
  x:close()
  local s = x:stats()
  ct.log.info("ipfix-export: %d records sent in %d messages, %d dropped", s.sent, s.messages, s.dropped)
end)
