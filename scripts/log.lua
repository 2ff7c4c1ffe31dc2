-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--   ctlua                        conntrack -E text
--   ctlua -- --timestamp         as conntrack -E -o timestamp
--   ctlua -- --json              one JSON object per line
--   ctlua -- --to SINK           to tcp:HOST:PORT, unix:PATH, file:PATH or syslog[:PATH]
--                                (with --json: JSON lines to a collector)
--   ctlua -- -p tcp -e NEW ...   conntrack -E's filters (ctlua.ctfilter): conntrack
--                                events only, those that match
-- The sink is the handler: stdout, files, tcp, unix, udp and syslog sinks are
-- written by the C core straight from each message (one write or send per batch
-- for streams), never through a Lua table.
local ct = require "ctlua"

local USAGE = "usage: ctlua scripts/log.lua -- [--json] [--timestamp] [--to SINK] [conntrack -E filters]\n" ..
  "  filters: -e NEW,UPDATES,DESTROY -p PROTO -s/-d ADDR[/BITS] --sport/--dport PORT -m MARK[/MASK]\n" ..
  "           -w ZONE --state STATE -u STATUS -n/-g/-j [ADDR[:PORT]] -f FAMILY"
local args = require "ctlua.args"
-- conntrack's filter options: only conntrack events then, as conntrack -E prints them.
local cf, rest = require("ctlua.ctfilter").parse({ ... }, USAGE)
local opt = args.parse(rest, {
  json = { "flag" }, timestamp = { "flag" }, to = { "string" },
}, USAGE)

local o = { to = "stdout" }
if opt.to then
  local err
  o, err = ct.sink_spec(opt.to)
  if not o then args.fail("log.lua: " .. err, USAGE) end
end
o.format, o.timestamp = opt.json and "json" or "text", opt.timestamp or nil
local sink, msg = ct.sink(o)
if not sink then error("log.lua: cannot open " .. (opt.to or "stdout") .. ": " .. tostring(msg), 0) end

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
