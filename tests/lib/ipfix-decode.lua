-- ipfix-decode.lua FILE — splits a capture of IPFIX messages (UDP payloads written
-- back to back, as socat UDP-RECV leaves them) by their length fields and checks
-- them against RFC 7011: version 10, lengths that add up, sets that fill the
-- message, template sets (id 2) that define what data sets use, and sequence
-- numbers that count the data records sent before each message. Prints one line
-- per message, "seq RECORDS TEMPLATES EXPORT_TIME", then "ok" or the first fault.
-- With --records, also one line per data record: "record sport dport start end"
-- (ports, flowStartMilliseconds, flowEndMilliseconds, decoded by the template).
-- With --no-seq, sequence numbers are not checked (a TCP stream after a reconnection:
-- messages queued before it keep the numbers they were built with).
local show, noseq = false, false
for i = 2, #arg do
  if arg[i] == "--records" then show = true elseif arg[i] == "--no-seq" then noseq = true end
end
local f = assert(io.open(arg[1], "rb"))
local data = f:read("a")
f:close()
local templates = {}       -- id -> total record length
local layouts = {}         -- id -> { {ie, len}, ... } (standard elements only by id)
local pos, expect_seq, n = 1, nil, 0
local function fault(msg) print("FAULT message " .. n .. ": " .. msg) os.exit(1) end
while pos <= #data do
  n = n + 1
  if pos + 15 > #data then fault("truncated header") end
  local version, len, export, seq, domain = string.unpack(">I2I2I4I4I4", data, pos)
  if version ~= 10 then fault("version " .. version) end
  if len < 16 or pos + len - 1 > #data then fault("length " .. len) end
  if expect_seq and seq ~= expect_seq and not noseq then fault(string.format("sequence %d, expected %d", seq, expect_seq)) end
  local p, stop, records, tsets = pos + 16, pos + len, 0, 0
  while p < stop do
    local sid, slen = string.unpack(">I2I2", data, p)
    if slen < 4 or p + slen > stop then fault("set length " .. slen) end
    local q, send = p + 4, p + slen
    if sid == 2 then
      tsets = tsets + 1
      while q + 3 < send do
        local tid, count = string.unpack(">I2I2", data, q)
        q = q + 4
        local total, layout = 0, {}
        for _ = 1, count do
          local ie, flen = string.unpack(">I2I2", data, q)
          q = q + 4
          if ie & 0x8000 ~= 0 then q = q + 4; ie = -1 end   -- enterprise: not by id
          total = total + flen
          layout[#layout + 1] = { ie, flen }
        end
        templates[tid], layouts[tid] = total, layout
      end
    elseif sid >= 256 then
      local rlen = templates[sid]
      if not rlen then fault("data set " .. sid .. " before its template") end
      local body = send - q
      if body % rlen ~= 0 then fault(string.format("set %d: %d bytes is not whole records of %d", sid, body, rlen)) end
      records = records + body // rlen
      if show then
        for r = q, send - 1, rlen do
          local v, at = {}, r
          for _, f in ipairs(layouts[sid]) do
            if f[2] <= 8 then v[f[1]] = string.unpack(">I" .. f[2], data, at) end
            at = at + f[2]
          end
          print(string.format("record %d %d %d %d", v[7], v[11], v[152], v[153]))
        end
      end
    else
      fault("set id " .. sid)
    end
    p = send
  end
  print(string.format("seq %d records %d templates %d time %d domain %d", seq, records, tsets, export, domain))
  expect_seq = (seq + records) & 0xffffffff
  pos = pos + len
end
print("ok " .. n)
