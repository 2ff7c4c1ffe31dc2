-- /etc/ctlua/example.lua — an example rule for `systemctl start ctlua@example`:
-- one journal line per new inbound SSH connection, a warning when one source opens
-- more than 10 in a minute. Copy it to /etc/ctlua/NAME.lua to make your own, or
-- start from the scripts in /usr/share/ctlua/scripts (portscan.lua, flowlog.lua...).
-- Options and script arguments: /etc/default/ctlua. The API: ctlua(8).
local ct = require "ctlua"

local per_source = ct.counter { window = 60, max_keys = 100000 }

ct.on("new", { proto = "tcp", dport = 22 }, function(ev)
  local src = ev.orig.src
  per_source:add(src)
  local n = per_source:count(src)
  if n > 10 then
    ct.log.warn("ssh: %s opened %d connections in a minute", src, n)
  else
    ct.log.info("ssh: new connection %s -> %s:%d", src, ev.orig.dst, ev.orig.dport)
  end
end)
