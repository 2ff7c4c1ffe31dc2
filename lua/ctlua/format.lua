-- ctlua.format — the exact text conntrack-tools 1.4.7 prints for an event.
--
-- `conntrack -E` formats with libnetfilter_conntrack's default snprintf and appends
-- "[USERSPACE] portid=N progname=NAME" for events caused by a process; `-E expect`
-- uses the expectation snprintf. A field that is present in the table is printed
-- exactly when the kernel sent the attribute, which is what the library tests.

local M = {}

local concat, format, floor = table.concat, string.format, math.floor

local PREFIX = {
  new = "    [NEW] ", update = " [UPDATE] ", destroy = "[DESTROY] ",
  ["expect-new"] = "    [NEW] ", ["expect-destroy"] = "[DESTROY] ",
}
local PROTONAME = { tcp = true, udp = true, udplite = true, icmp = true, icmpv6 = true,
                    sctp = true, dccp = true, gre = true }
local PORTS = { [6] = true, [17] = true, [136] = true, [132] = true, [33] = true }

-- Appends the layer-4 part of a tuple: ports, GRE keys or ICMP type/code/id.
local function l4(parts, n, t, protonum)
  if PORTS[protonum] then
    n = n + 1; parts[n] = format("sport=%d dport=%d", t.sport or 0, t.dport or 0)
  elseif protonum == 47 then
    n = n + 1; parts[n] = format("srckey=0x%x dstkey=0x%x", t.sport or 0, t.dport or 0)
  elseif protonum == 1 or protonum == 58 then
    n = n + 1; parts[n] = format("type=%d code=%d id=%d", t.type or 0, t.code or 0, t.id or 0)
  end
  return n
end

local function tuple(parts, n, t, protonum, srcname, dstname)
  t = t or {}
  n = n + 1; parts[n] = format("%s=%s %s=%s", srcname, t.src or "", dstname, t.dst or "")
  return l4(parts, n, t, protonum)
end

local function counters(parts, n, t)
  if t and t.packets and t.bytes then
    n = n + 1; parts[n] = format("packets=%d bytes=%d", t.packets, t.bytes)
  end
  return n
end

-- Labels as conntrack prints them: only the ones connlabel.conf names.
local function labels(parts, n, set)
  local names = {}
  for name in pairs(set) do
    if not tostring(name):match("^%d+$") then names[#names + 1] = name end
  end
  if #names > 0 then
    table.sort(names)
    n = n + 1; parts[n] = "labels=" .. concat(names, ",")
  end
  return n
end

local function userspace(parts, n, ev)
  if ev.portid then
    n = n + 1
    parts[n] = ev.progname and format("[USERSPACE] portid=%d progname=%s", ev.portid, ev.progname)
               or format("[USERSPACE] portid=%d", ev.portid)
  end
  return n
end

local function conntrack(ev, opts)
  local parts, n = { PREFIX[ev.event] or "" }, 1
  local pn = ev.protonum or 0
  n = n + 1
  parts[n] = format("%-8s %d", PROTONAME[ev.proto] and ev.proto or "unknown", pn)
  if ev.timeout then n = n + 1; parts[n] = tostring(ev.timeout) end
  if ev.state then n = n + 1; parts[n] = ev.state end
  local orig, reply, status = ev.orig or {}, ev.reply or {}, ev.status
  n = tuple(parts, n, orig, pn, "src", "dst")
  if orig.zone then n = n + 1; parts[n] = "zone-orig=" .. orig.zone end
  n = counters(parts, n, orig)
  if status and not status.seen_reply then n = n + 1; parts[n] = "[UNREPLIED]" end
  n = tuple(parts, n, reply, pn, "src", "dst")
  if reply.zone then n = n + 1; parts[n] = "zone-reply=" .. reply.zone end
  n = counters(parts, n, reply)
  if status then
    if status.assured then n = n + 1; parts[n] = "[ASSURED]" end
    if status.offload then n = n + 1; parts[n] = "[OFFLOAD]" end
    if status.hw_offload then n = n + 1; parts[n] = "[HW_OFFLOAD]" end
  end
  if ev.mark then n = n + 1; parts[n] = "mark=" .. ev.mark end
  if ev.secmark then n = n + 1; parts[n] = "secmark=" .. ev.secmark end
  if ev.secctx then n = n + 1; parts[n] = "secctx=" .. ev.secctx end
  if ev.zone then n = n + 1; parts[n] = "zone=" .. ev.zone end
  if ev.start then
    -- The library computes whole seconds on both ends; an entry still alive
    -- counts up to now.
    local stop = ev.stop and floor(ev.stop) or floor(ev.time or os.time())
    n = n + 1; parts[n] = "delta-time=" .. (stop - floor(ev.start))
  end
  if ev.helper then n = n + 1; parts[n] = "helper=" .. ev.helper end
  if ev.use then n = n + 1; parts[n] = "use=" .. ev.use end
  if opts and opts.id and ev.id then n = n + 1; parts[n] = "id=" .. ev.id end
  if ev.labels then n = labels(parts, n, ev.labels) end
  n = userspace(parts, n, ev)
  -- parts[1] is the padded prefix, which ends in its own space.
  return parts[1] .. concat(parts, " ", 2, n)
end

local EXP_FLAGS = { "permanent", "inactive", "userspace" }

local function expect(ev)
  local parts, n = { PREFIX[ev.event] or "" }, 1
  local pn = ev.protonum or 0
  if ev.timeout then n = n + 1; parts[n] = tostring(ev.timeout) end
  n = n + 1; parts[n] = "proto=" .. pn
  n = tuple(parts, n, ev.tuple, pn, "src", "dst")
  n = tuple(parts, n, ev.mask, pn, "mask-src", "mask-dst")
  local master = ev.master or {}
  n = tuple(parts, n, master, master.protonum or pn, "master-src", "master-dst")
  if ev.zone then n = n + 1; parts[n] = "zone=" .. ev.zone end
  local flags = {}
  for _, f in ipairs(EXP_FLAGS) do
    if ev.flags and ev.flags[f] then flags[#flags + 1] = f:upper() end
  end
  if #flags > 0 then n = n + 1; parts[n] = concat(flags, ",") end
  if ev.class then n = n + 1; parts[n] = "class=" .. ev.class end
  if ev.helper then n = n + 1; parts[n] = "helper=" .. ev.helper end
  return parts[1] .. concat(parts, " ", 2, n)
end

--- format(ev [, opts]) -> string
-- The line conntrack -E (conntrack events) or conntrack -E expect (expectation
-- events) prints for ev, without the newline. opts.timestamp = true prefixes the
-- receive time as `conntrack -E -o timestamp` does; opts.id = true adds id= (-o id).
function M.format(ev, opts)
  if type(ev) ~= "table" then
    error("bad argument #1 to 'format' (event table expected, got " .. type(ev) .. ")", 2)
  end
  local line
  if ev.tuple or ev.master or ev.mask then line = expect(ev) else line = conntrack(ev, opts) end
  if opts and opts.timestamp then
    local t = ev.time or 0
    local sec = floor(t)
    local usec = floor((t - sec) * 1e6 + 0.5)
    if usec > 999999 then usec = 999999 end
    line = format("[%d.%06d]\t", sec, usec) .. line
  end
  return line
end

return M
