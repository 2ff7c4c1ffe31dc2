-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--   ctlua                        conntrack -E text
--   ctlua -- --timestamp         as conntrack -E -o timestamp
--   ctlua -- --json              one JSON object per line
--   ctlua -- --to SINK           to tcp:HOST:PORT, unix:PATH, file:PATH or syslog[:PATH]
--                                (with --json: JSON lines to a collector)
local ct = require "ctlua"

local USAGE = "usage: ctlua scripts/log.lua -- [--json] [--timestamp] [--to SINK]"
local args = require "ctlua.args"
local opt = args.parse({ ... }, {
  json = { "flag" }, timestamp = { "flag" }, to = { "string" },
}, USAGE)
local json, to = opt.json, opt.to
local opts = opt.timestamp and { timestamp = true } or nil

local print_event
if to then
  -- A sink: a file, a TCP or unix socket (reconnecting, never blocking), syslog.
  local o, err = ct.sink_spec(to)
  if not o then args.fail("log.lua: " .. err, USAGE) end
  o.format, o.timestamp = json and "json" or "text", opts ~= nil
  local sink, msg = ct.sink(o)
  if not sink then error("log.lua: cannot open " .. to .. ": " .. tostring(msg), 0) end
  print_event = function(ev) sink:write(ev) end
else
  local out = io.stdout
  out:setvbuf("full")
  -- SIGPIPE does not kill ctlua: a reader that went away (ctlua | head) ends it here.
  print_event = function(ev)
    out:write(json and ct.json(ev) or ct.format(ev, opts), "\n")
    if not out:flush() then ct.stop() end      -- (a line-buffered write hides the error)
  end
end

for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, print_event)
end

-- Same words as conntrack, plus the running count.
ct.on("overrun", function(n)
  io.stderr:write("WARNING: We have hit ENOBUFS! We are losing events. (overrun ", n, ")\n")
end)
