-- record.lua PREFIX — writes every event as JSON (PREFIX.json) and as ct.format text
-- (PREFIX.fmt), flushed per event, and ct.stats() at stop (PREFIX.stats).
local ct = require "ctlua"
local prefix = assert(..., "usage: record.lua -- PREFIX")
local json = assert(io.open(prefix .. ".json", "w"))
local fmt = assert(io.open(prefix .. ".fmt", "w"))
for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, function(ev)
    json:write(ct.json(ev), "\n"); json:flush()
    fmt:write(ct.format(ev), "\n"); fmt:flush()
  end)
end
ct.on("stop", function()
  local f = assert(io.open(prefix .. ".stats", "w"))
  f:write(ct.json(ct.stats()), "\n")
  f:close()
end)
