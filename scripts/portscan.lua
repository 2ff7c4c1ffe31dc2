-- portscan.lua — alert on sources that open NEW connections to more than N distinct
-- ports (or hosts) within T seconds.
--
--   ctlua scripts/portscan.lua -- [--ports N] [--hosts N] [--window T] [--delete]
--        [--mark M] [--hook CMD] [--block SET [--block6 SET6] [--block-for S]] [--quiet-for S]
--     --ports N      distinct destination ports per source (default 20)
--     --hosts N      distinct destination hosts per source (default off)
--     --window T     seconds (default 10)
--     --delete       delete the scanner's entries once detected
--     --mark M       set mark M on the scanner's entries (an nft rule can act on it)
--     --hook CMD     run CMD (split on spaces, no shell) with the source address as
--                    its last argument, e.g. --hook /usr/local/sbin/block-ip
--     --block SET    add the source to nftables set SET ("inet filter blocklist") in
--                    the namespace of the event, in-process (ct.nft): its next packets
--                    meet whatever rule matches the set, e.g.
--                      nft add set inet filter blocklist '{ type ipv4_addr; flags timeout; }'
--                      nft add rule inet filter input ip saddr @blocklist drop
--     --block6 SET6  IPv6 sources go to SET6 (an ipv6_addr set); default: SET
--     --block-for S  the element expires after S seconds (the set needs flags timeout)
--     --quiet-for S  one alert per source per S seconds (default 300; with
--                    --block-for, that time: a scanner back after its block is caught again)
--
-- Example output:
--   2026-11-24T21:30:01.120Z WARN portscan: 10.0.0.66 reached 21 ports on 1 hosts in 10 s
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/portscan.lua -- [--ports N] [--hosts N] [--window T] [--delete] [--mark M] [--hook CMD] [--block SET] [--block6 SET6] [--block-for S] [--quiet-for S]"
local opt = require("ctlua.args").parse({ ... }, {
  ports = { "number", 20 }, hosts = { "number" }, window = { "number", 10 },
  delete = { "flag" }, mark = { "number" }, hook = { "string" }, quiet_for = { "number" },
  block = { "string" }, block6 = { "string" }, block_for = { "number" },
}, USAGE)
opt.quiet_for = opt.quiet_for or opt.block_for or 300

local ports = ct.distinct { window = opt.window }
local hosts = ct.distinct { window = opt.window }
local alerted = ct.state { ttl = opt.quiet_for }
local alerts = 0

-- Into the set now, from the handler of the alerting event: the scanner's next
-- packet already meets the rule.
local block = require("ctlua.block").source

local function act(src, e)
  if opt.block then block("portscan", opt, src, e) end
  if opt.delete or opt.mark then
    local mine = {}
    for e in ct.entries { src = src } do mine[#mine + 1] = e end
    if opt.delete then
      local d = ct.delete(mine)
      ct.log.info("portscan: deleted %d entries of %s", d or 0, src)
    else
      for _, e in ipairs(mine) do ct.update(e, { mark = math.tointeger(opt.mark) }) end
      ct.log.info("portscan: marked %d entries of %s with %d", #mine, src, opt.mark)
    end
  end
  if opt.hook then
    local argv = {}
    for w in opt.hook:gmatch("%S+") do argv[#argv + 1] = w end
    argv[#argv + 1] = src
    local p, err = ct.spawn(argv, function(code, _, errout)
      if code ~= 0 then ct.log.error("portscan: hook exited %d: %s", code, errout) end
    end)
    if not p then ct.log.error("portscan: hook: %s", err) end
  end
end

ct.on("new", function(e)
  local src = e.orig.src
  local np = ports:add(src, e.orig.dport or e.orig.type or 0)
  local nh = hosts:add(src, e.orig.dst)
  if (np > opt.ports or (opt.hosts and nh > opt.hosts)) and not alerted:get(src) then
    alerted:set(src, true)
    alerts = alerts + 1
    ct.log.warn("portscan: %s reached %d ports on %d hosts in %g s", src, np, nh, opt.window)
    act(src, e)
  end
end)
ct.every(opt.window, function() ports:prune() hosts:prune() end)
ct.on("stop", function() ct.log.info("portscan: %d alerts", alerts) end)
