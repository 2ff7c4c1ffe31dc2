-- oforms-canned.lua FILE — writes canned conntrack event messages (the kernel's
-- netlink layout) that this machine's kernel cannot make: flows with the OFFLOAD
-- and HW_OFFLOAD status bits (no flowtable here), one per status.
local out = assert(io.open(arg[1], "wb"))
local function attr(t, payload, nested)
  local len = 4 + #payload
  return string.pack("<I2I2", len, t | (nested and 0x8000 or 0)) .. payload .. string.rep("\0", (4 - len % 4) % 4)
end
local u8 = function(v) return string.pack("B", v) end
local be16 = function(v) return string.pack(">I2", v) end
local be32 = function(v) return string.pack(">I4", v) end
local function tuple(t, src, dst, sp, dp)
  return attr(t, attr(1, attr(1, src) .. attr(2, dst), true) ..
    attr(2, attr(1, u8(6)) .. attr(2, be16(sp)) .. attr(3, be16(dp)), true), true)
end
local a, b = "\10\0\0\1", "\10\0\0\2"
local seq = 0
local function msg(kind, status, id)
  seq = seq + 1
  local body = tuple(1, a, b, 40000 + seq, 443) .. tuple(2, b, a, 443, 40000 + seq) ..
    attr(3, be32(status)) .. attr(7, be32(86400)) ..
    attr(4, attr(1, attr(1, u8(3)), true), true) ..        -- protoinfo tcp state ESTABLISHED
    attr(12, be32(id)) .. attr(8, be32(5))                  -- id, mark
  local flags = kind == "new" and 0x600 or 0                -- NLM_F_CREATE | NLM_F_EXCL
  local typ = (1 << 8) | (kind == "destroy" and 2 or 0)     -- CTNETLINK, CT_NEW / CT_DELETE
  local payload = string.pack("BBI2", 2, 0, 0) .. body      -- nfgenmsg: AF_INET
  out:write(string.pack("<I4I2I2I4I4", 16 + #payload, typ, flags, seq, 0), payload)
end
local ASSURED, SEEN, CONFIRMED, OFFLOAD, HW = 4, 2, 8, 1 << 14, 1 << 15
for _, st in ipairs { ASSURED, OFFLOAD, HW, OFFLOAD | HW } do
  for _, k in ipairs { "new", "update", "destroy" } do msg(k, st | SEEN | CONFIRMED, 1000 + seq) end
end
msg("update", SEEN | CONFIRMED, 77)          -- neither: no bracket at all
msg("update", CONFIRMED | OFFLOAD, 78)       -- [UNREPLIED] and [OFFLOAD]
out:close()
