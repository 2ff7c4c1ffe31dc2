-- rate-alert.lua — per-source NEW-connection rate above a threshold (floods).
--
--   ctlua scripts/rate-alert.lua -- [--rate R] [--window T] [--quiet-for S] [--proto P]
--        [--block SET [--block6 SET6] [--block-for S]]
--     --rate R       new connections per second, averaged over the window (default 100)
--     --window T     seconds (default 5)
--     --quiet-for S  one alert per source per S seconds (default 60; with --block-for,
--                    that time)
--     --proto P      only this protocol (tcp, udp, icmp...)
--     --block SET    add the flooding source to nftables set SET ("inet filter blocklist")
--                    in the namespace of the event, in-process (ct.nft; see portscan.lua)
--     --block6 SET6  IPv6 sources go to SET6 (an ipv6_addr set); default: SET
--     --block-for S  the element expires after S seconds (the set needs flags timeout)
--
-- Example output:
--   2026-11-24T21:30:01.120Z WARN flood: 10.0.0.9 opens 250.0 connections/s (over 5 s)
local ct = require "ctlua"
local block_source = require("ctlua.block").source
local USAGE = "usage: ctlua scripts/rate-alert.lua -- [--rate R] [--window T] [--quiet-for S] [--proto P] [--block SET] [--block6 SET6] [--block-for S]"
local opt = require("ctlua.args").parse({ ... }, {
  rate = { "number", 100 }, window = { "number", 5 }, quiet_for = { "number" },
  proto = { "string" }, block = { "string" }, block6 = { "string" }, block_for = { "number" },
}, USAGE)
opt.quiet_for = opt.quiet_for or opt.block_for or 60

local counter = ct.counter { window = opt.window, buckets = 10 }
local alerted = ct.state { ttl = opt.quiet_for }
ct.on("new", opt.proto and { proto = opt.proto } or nil, function(e)
  local src = e.orig.src
  local n = counter:add(src)
  if n / opt.window > opt.rate and not alerted:get(src) then
    alerted:set(src, true)
    ct.log.warn("flood: %s opens %.1f connections/s (over %g s)", src, n / opt.window, opt.window)
    if opt.block then block_source("flood", opt, src, e) end
  end
end)
ct.every(opt.window, function() counter:prune() end)
