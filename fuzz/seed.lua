-- fuzz/seed.lua OUTDIR DATADIR — seeds the fuzz corpora from the test captures:
-- every netlink message of DATADIR/*.nl alone and every datagram-sized run of
-- them (convert), every few lines of the recorded text events (replay).
local out, data = arg[1], arg[2]
local function write(dir, name, bytes)
  local f = assert(io.open(string.format("%s/%s/%s", out, dir, name), "wb"))
  f:write(bytes)
  f:close()
end
os.execute("mkdir -p " .. out .. "/convert " .. out .. "/replay")
local p = io.popen("ls " .. data)
for name in p:lines() do
  local path = data .. "/" .. name
  if name:match("%.nl$") then
    local f = assert(io.open(path, "rb"))
    local all = f:read("a")
    f:close()
    local pos, n, run, runstart = 1, 0, {}, 1
    while pos + 16 <= #all + 1 do
      local len = string.unpack("<I4", all, pos)
      if len < 16 or pos + len - 1 > #all then break end
      local msg = all:sub(pos, pos + ((len + 3) & ~3) - 1)
      n = n + 1
      write("convert", string.format("%s-%03d", name, n), msg)
      pos = pos + ((len + 3) & ~3)
    end
    for i = 1, #all, 4096 do       -- datagrams of several messages, cut anywhere
      write("convert", string.format("%s-run%03d", name, i // 4096), all:sub(i, i + 4095))
    end
  elseif name:match("%.conntrack$") or name:match("%.expect$") or name:match("%.txt$") then
    local lines = {}
    for l in io.lines(path) do lines[#lines + 1] = l end
    for i = 1, math.min(#lines, 400), 8 do
      write("replay", string.format("%s-%03d", name, i), table.concat(lines, "\n", i, math.min(i + 7, #lines)) .. "\n")
    end
  end
end
p:close()
