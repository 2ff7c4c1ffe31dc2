-- log.lua — the default script: every conntrack and expectation event, printed as
-- `conntrack -E` and `conntrack -E expect` print them, in one merged stream.
--   ctlua                        conntrack -E text
--   ctlua -- --timestamp         as conntrack -E -o timestamp
--   ctlua -- --json              one JSON object per line
local ct = require "ctlua"

local json, opts = false, nil
for _, a in ipairs({ ... }) do
  if a == "--json" then
    json = true
  elseif a == "--timestamp" then
    opts = { timestamp = true }
  else
    error("log.lua: unknown argument '" .. a .. "' (use --json or --timestamp)", 0)
  end
end

local out = io.stdout
out:setvbuf("line")

local function print_event(ev)
  out:write(json and ct.json(ev) or ct.format(ev, opts), "\n")
end

for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, print_event)
end

-- Same words as conntrack, plus the running count.
ct.on("overrun", function(n)
  io.stderr:write("WARNING: We have hit ENOBUFS! We are losing events. (overrun ", n, ")\n")
end)
