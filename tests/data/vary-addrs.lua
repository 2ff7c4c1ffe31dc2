-- vary-addrs.lua COUNT FILE... — writes the messages of FILE... COUNT times over, every
-- loopback address in them replaced by one of thousands (127.0.0.1 -> 10.a.b.c, ::1 ->
-- 2001:db8::a:b): address conversion meets new and repeated addresses alike.
local count = tonumber(arg[1])
local msgs = {}
for i = 2, #arg do
  local all = assert(io.open(arg[i], "rb")):read("a")
  local pos = 1
  while pos + 16 <= #all + 1 do
    local len = string.unpack("<I4", all, pos)
    if len < 16 or pos + len - 1 > #all then break end
    msgs[#msgs + 1] = all:sub(pos, pos + ((len + 3) & ~3) - 1)
    pos = pos + ((len + 3) & ~3)
  end
end
local v6one = string.rep("\0", 15) .. "\1"
local out, n = {}, 0
for r = 1, count do
  for _, m in ipairs(msgs) do
    n = n + 1
    local k = 0
    m = m:gsub("\127\0\0\1", function()
      k = k + 1
      local v = (n * 7 + k * 131) % 5000
      return string.char(10, v >> 8, v & 255, k)
    end)
    m = m:gsub(v6one, function()
      k = k + 1
      local v = (n * 11 + k * 97) % 5000
      return "\32\1\13\184" .. string.rep("\0", 8) .. string.char(0, v >> 8, v & 255, k)
    end)
    out[#out + 1] = m
  end
end
io.write(table.concat(out))
