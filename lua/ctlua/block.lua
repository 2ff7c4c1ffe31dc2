-- ctlua.block — the --block action the alerting scripts share (portscan.lua,
-- rate-alert.lua): a source goes into an nftables set through ct.nft, in the
-- namespace of the event that raised the alert, and the log says what came of it.
-- A script module (no init): it works on the public `ct`.
local ct = require "ctlua"

local M = {}

--- block.source(tag, opt, src, ev) -> true | nil
-- opt.block: the set ("inet filter blocklist"); opt.block6: the set for IPv6
-- sources (default opt.block); opt.block_for: seconds until the element expires.
function M.source(tag, opt, src, e)
  local set = e.family == "ipv6" and opt.block6 or opt.block
  local ok, msg = ct.nft.add(set, src, { timeout = opt.block_for, netns = e.netns })
  if ok then
    ct.log.info("%s: blocked %s in %s%s", tag, src, set, opt.block_for and (" for " .. opt.block_for .. " s") or "")
    return true
  end
  ct.log.error("%s: cannot block %s in %s: %s", tag, src, set, msg)
end

return M
