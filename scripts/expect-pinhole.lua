-- expect-pinhole.lua — open a data pinhole for a known control connection, then
-- close it again: ct.expect.create and ct.expect.delete used for real.
--
--   ctlua scripts/expect-pinhole.lua -- CONTROL_PORT DATA_PORT [SECONDS]
--
-- When a connection to CONTROL_PORT that has a conntrack helper (say ftp, assigned
-- by an nft `ct helper set` rule) appears, an expectation lets one connection from
-- the client to the server's DATA_PORT in, for SECONDS (default 10); then it is
-- deleted, whether it was used or not. The kernel requires the master to have a
-- helper; its policy sets the expectation's lifetime upper bound.
local ct = require "ctlua"

local opt = require("ctlua.args").parse({ ... }, {
  control_port = { "number", positional = 1, required = true,
                   help = "the control connection's destination port (one with a helper)" },
  data_port = { "number", positional = 2, required = true,
                help = "the server's data port the pinhole lets one connection in to" },
  seconds = { "number", 10, positional = 3, help = "how long the pinhole stays open" },
}, "usage: ctlua scripts/expect-pinhole.lua -- CONTROL_PORT DATA_PORT [SECONDS]")
local control, data, seconds = opt.control_port, opt.data_port, opt.seconds
local full = { ipv4 = "255.255.255.255", ipv6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" }

ct.on("new", { proto = "tcp", dport = control }, function(m)
  if not m.helper then return end
  local exp = {
    proto = "tcp", master = m.orig, helper = m.helper, timeout = seconds,
    -- the client may come from any source port to the server's data port
    tuple = { src = m.orig.src, dst = m.orig.dst, sport = 0, dport = data },
    mask = { src = full[m.family], dst = full[m.family], sport = 0, dport = 65535 },
  }
  local ok, err, code = ct.expect.create(exp)
  if not ok then
    io.stderr:write("pinhole: cannot open: ", err, " (", code, ")\n")
    return
  end
  print("pinhole open:  " .. m.orig.src .. " -> " .. m.orig.dst .. ":" .. data)
  ct.after(seconds, function()
    local gone, e2, c2 = ct.expect.delete(exp)
    print(gone and "pinhole closed: " .. m.orig.dst .. ":" .. data
      or "pinhole already gone (" .. tostring(c2 or e2) .. ")")
  end)
end)
ct.on("expect-new", { tuple = { dport = data } }, function(x) print(ct.format(x)) end)
ct.on("expect-destroy", { tuple = { dport = data } }, function(x) print(ct.format(x)) end)
