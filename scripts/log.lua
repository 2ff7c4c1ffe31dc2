-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--   ctlua                        conntrack -E text
--   ctlua -- --timestamp         as conntrack -E -o timestamp
--   ctlua -- -o WORDS            as conntrack -E -o WORDS (extended,timestamp,id,
--                                ktimestamp,labels,userspace,xml,save)
--   ctlua -- --json              one JSON object per line
--   ctlua -- --to SINK           to tcp:HOST:PORT, unix:PATH, file:PATH or syslog[:PATH]
--                                (with --json: JSON lines to a collector)
-- The sink is the handler: stdout, files, tcp, unix, udp and syslog sinks are
-- written by the C core straight from each message (one write or send per batch
-- for streams), never through a Lua table.
local ct = require "ctlua"

local USAGE = "usage: ctlua scripts/log.lua -- [--json] [--timestamp] [-o WORDS] [--to SINK]"
local args = require "ctlua.args"
-- conntrack's -o WORDS (ct.sink checks them)
local argv, words = {}, nil
do
  local a, i = { ... }, 1
  while i <= #a do
    if a[i] == "-o" or a[i] == "--output" then
      words = a[i + 1] or args.fail(a[i] .. " needs a value", USAGE)
      i = i + 2
    else
      argv[#argv + 1], i = a[i], i + 1
    end
  end
end
local opt = args.parse(argv, {
  json = { "flag" }, timestamp = { "flag" }, to = { "string" },
}, USAGE)

local o = { to = "stdout" }
if opt.to then
  local err
  o, err = ct.sink_spec(opt.to)
  if not o then args.fail("log.lua: " .. err, USAGE) end
end
o.format, o.timestamp, o.output = opt.json and "json" or "text", opt.timestamp or nil, words
local ok, sink, msg = pcall(ct.sink, o)
if not ok then args.fail("log.lua: " .. (tostring(sink):match("%((.*)%)$") or tostring(sink)), USAGE) end
if not sink then error("log.lua: cannot open " .. (opt.to or "stdout") .. ": " .. tostring(msg), 0) end

for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, sink)
end

-- Same words as conntrack, plus the running count.
ct.on("overrun", function(n)
  io.stderr:write("WARNING: We have hit ENOBUFS! We are losing events. (overrun ", n, ")\n")
end)
