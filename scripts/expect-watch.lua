-- expect-watch.lua — log expectations and alert on dangerous ones: a wildcard
-- source (mask-src 0.0.0.0 / ::, so anyone may connect in), a destination host or
-- port outside the allowed lists, or a helper not on the list — the NAT
-- slipstreaming caveat of the ftp and sip helpers.
--
--   ctlua scripts/expect-watch.lua -- [--allow-host CIDR]... [--allow-port N]...
--        [--helper NAME]... [--quiet]
--     --allow-host CIDR  expected destinations that are fine (default: any)
--     --allow-port N     expected destination ports that are fine (default: any)
--     --helper NAME      helpers that may make expectations (default: any)
--     --quiet            alerts only, no log of every expectation
--
-- Example output:
--       [NEW] 300 proto=6 src=0.0.0.0 dst=192.0.2.10 sport=0 dport=5060 mask-src=0.0.0.0 ...
--   2026-11-24T21:30:01.120Z WARN expectation: wildcard source: anyone may connect to 192.0.2.10:5060 (helper sip, master 198.51.100.7:5060)
local ct = require "ctlua"
local filter = require "ctlua.filter"
local USAGE = "usage: ctlua scripts/expect-watch.lua -- [--allow-host CIDR]... [--allow-port N]... [--helper NAME]... [--quiet]"
local opt = require("ctlua.args").parse({ ... }, {
  allow_host = { "list" }, allow_port = { "list" }, helper = { "list" }, quiet = { "flag" },
}, USAGE)

local ok_host = #opt.allow_host > 0 and filter.compile({ dst = opt.allow_host }, "expect") or nil
local ok_port = {}
for _, p in ipairs(opt.allow_port) do ok_port[math.tointeger(tonumber(p)) or -1] = true end
local ok_helper = {}
for _, h in ipairs(opt.helper) do ok_helper[h] = true end
local WILDCARD = { ["0.0.0.0"] = true, ["::"] = true }

local alerts = 0
local function alert(ev, why)
  alerts = alerts + 1
  local t, m = ev.tuple or {}, ev.master or {}
  ct.log.warn("expectation: %s: %s:%s (helper %s, master %s:%s -> %s:%s)", why,
    tostring(t.dst), tostring(t.dport), tostring(ev.helper), tostring(m.src), tostring(m.sport),
    tostring(m.dst), tostring(m.dport))
end

ct.on("expect-new", function(ev)
  if not opt.quiet then print(ct.format(ev)) io.stdout:flush() end
  local mask = ev.mask or {}
  if WILDCARD[mask.src] then alert(ev, "wildcard source, anyone may connect to") end
  if ok_host and not ok_host(ev) then alert(ev, "destination host not allowed") end
  if next(ok_port) and not ok_port[(ev.tuple or {}).dport] then alert(ev, "destination port not allowed") end
  if next(ok_helper) and not ok_helper[ev.helper or ""] then alert(ev, "helper not allowed") end
end)
if not opt.quiet then
  ct.on("expect-destroy", function(ev) print(ct.format(ev)) io.stdout:flush() end)
end
ct.on("stop", function() ct.log.info("expect-watch: %d alerts", alerts) end)
