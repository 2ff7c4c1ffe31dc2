-- repeat-nl.lua COUNT FILE... — writes netlink event messages from the captures in
-- FILE..., over and over, until COUNT messages (for the soak in make soak).
local count = tonumber(arg[1])
local msgs = {}
for i = 2, #arg do
  local f = assert(io.open(arg[i], "rb"))
  local all = f:read("a")
  f:close()
  local pos = 1
  while pos + 16 <= #all + 1 do
    local len = string.unpack("<I4", all, pos)
    if len < 16 or pos + len - 1 > #all then break end
    local alen = (len + 3) & ~3
    msgs[#msgs + 1] = all:sub(pos, pos + alen - 1)
    pos = pos + alen
  end
end
assert(#msgs > 0, "no messages")
local out, n = {}, 0
while n < count do
  for _, m in ipairs(msgs) do
    n = n + 1
    out[#out + 1] = m
    if n == count then break end
  end
  if #out >= 4096 then io.write(table.concat(out)); out = {} end
end
io.write(table.concat(out))
