-- soak.lua — the handlers of make soak: every event formatted and encoded, counted.
local n = 0
for _, name in ipairs { "new", "update", "destroy", "expect-new", "expect-destroy" } do
  ct.on(name, function(ev) ct.format(ev) ct.json(ev) n = n + 1 end)
end
ct.on("stop", function()
  local s = ct.stats()
  print(string.format("soak: %d events delivered, %d parse errors, %d handler errors, Lua memory %d KiB",
                      n, s.parse_errors, s.handler_errors, s.memory // 1024))
end)
