-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--   ctlua                        conntrack -E text
--   ctlua -- --timestamp         as conntrack -E -o timestamp
--   ctlua -- --json              one JSON object per line
--   ctlua -- --to SINK           to tcp:HOST:PORT, unix:PATH, file:PATH or syslog[:PATH]
--                                (with --json: JSON lines to a collector)
local ct = require "ctlua"

local json, opts, to = false, nil, nil
local args = { ... }
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--json" then
    json = true
  elseif a == "--timestamp" then
    opts = { timestamp = true }
  elseif a == "--to" and args[i + 1] then
    to = args[i + 1]
    i = i + 1
  else
    error("log.lua: unknown argument '" .. a .. "' (use --json, --timestamp, --to SINK)", 0)
  end
  i = i + 1
end

local print_event
if to then
  -- A sink: a file, a TCP or unix socket (reconnecting, never blocking), syslog.
  local o, err = ct.sink_spec(to)
  if not o then error("log.lua: " .. err, 0) end
  o.format, o.timestamp = json and "json" or "text", opts ~= nil
  local sink, msg = ct.sink(o)
  if not sink then error("log.lua: cannot open " .. to .. ": " .. tostring(msg), 0) end
  print_event = function(ev) sink:write(ev) end
else
  local out = io.stdout
  out:setvbuf("line")
  print_event = function(ev) out:write(json and ct.json(ev) or ct.format(ev, opts), "\n") end
end

for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, print_event)
end

-- Same words as conntrack, plus the running count.
ct.on("overrun", function(n)
  io.stderr:write("WARNING: We have hit ENOBUFS! We are losing events. (overrun ", n, ")\n")
end)
