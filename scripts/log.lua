-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--
--   ctlua [scripts/log.lua] -- [--json] [--timestamp] [-o WORDS] [--to SINK] [filters]
--     --json          one JSON object per line instead of conntrack -E text
--     --timestamp     as conntrack -E -o timestamp: a [sec.usec] prefix
--     --output WORDS  as conntrack -E -o WORDS (also -o WORDS): extended, timestamp,
--                     id, ktimestamp, labels, userspace, xml, save, comma-separated
--     --to SINK       tcp:HOST:PORT, udp:HOST:PORT, unix:PATH, file:PATH,
--                     syslog[:PATH] or stdout (default stdout); with --json, JSON
--                     lines to a collector
--   and conntrack -E's filters (ctlua.ctfilter), which print conntrack events only,
--   those that match: -e NEW,UPDATES,DESTROY, -p PROTO, -s/-d ADDR[/BITS], ports
--   (sport, dport), -m MARK[/MASK], -w ZONE, state, -u STATUS, -n/-g/-j [ADDR[:PORT]]
--   and -f FAMILY, each as conntrack -E takes it.
--
-- The sink is the handler: stdout, files, tcp, unix, udp and syslog sinks are
-- written by the C core straight from each message (one write or send per batch
-- for streams), never through a Lua table.
local ct = require "ctlua"

local USAGE = "usage: ctlua scripts/log.lua -- [--json] [--timestamp] [-o WORDS] [--to SINK] [conntrack -E filters]\n" ..
  "  filters: -e NEW,UPDATES,DESTROY -p PROTO -s/-d ADDR[/BITS] --sport/--dport PORT -m MARK[/MASK]\n" ..
  "           -w ZONE --state STATE -u STATUS -n/-g/-j [ADDR[:PORT]] -f FAMILY"
local args = require "ctlua.args"
-- conntrack's filter options: only conntrack events then, as conntrack -E prints them.
local cf, rest = require("ctlua.ctfilter").parse({ ... }, USAGE)
-- conntrack's short -o WORDS is --output WORDS (ct.sink checks the words)
for i = 1, #rest do if rest[i] == "-o" then rest[i] = "--output" end end
local opt = args.parse(rest, {
  json = { "flag" }, timestamp = { "flag" }, output = { "string", meta = "WORDS" }, to = { "string" },
}, USAGE)

local o = { to = "stdout" }
if opt.to then
  local err
  o, err = ct.sink_spec(opt.to)
  if not o then args.fail(err, USAGE) end
end
o.format, o.timestamp, o.output = opt.json and "json" or "text", opt.timestamp or nil, opt.output
local ok, sink, msg = pcall(ct.sink, o)
if not ok then args.fail((tostring(sink):match("%((.*)%)$") or tostring(sink)), USAGE) end
if not sink then args.die("cannot open " .. (opt.to or "stdout") .. ": " .. tostring(msg), 3) end

if cf then
  for _, name in ipairs(cf.events) do ct.on(name, cf.filter, sink) end
else
  for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
    ct.on(name, sink)
  end
end

-- Same words as conntrack, plus the running count.
ct.on("overrun", function(n)
  io.stderr:write("WARNING: We have hit ENOBUFS! We are losing events. (overrun ", n, ")\n")
end)
