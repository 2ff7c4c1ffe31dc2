-- ctlua.parse — conntrack -E / -E expect text lines back into event tables.
--
-- The inverse of ctlua.format: parse(line) gives a table that format() turns into
-- the same line, byte for byte (with the same -o words). Accepts every text form
-- conntrack prints: default, -o extended, timestamp (both prefixes: conntrack's
-- zero-padded one and expectations' space-padded one), id, ktimestamp, labels,
-- userspace and xml (one <flow> per line, as conntrack writes them), conntrack and
-- expectation lines, `conntrack -L` lines (no event prefix: an entry) and the
-- [USERSPACE] suffix. What a form does not carry (ICMP type/code/id and offload
-- in XML) is not in the table.
-- M.init(env) once (ctlua.lua does, in every mode, so that scripts may require
-- it too): protocol names from C.

local M = {}

local EVENT = { NEW = "new", UPDATE = "update", DESTROY = "destroy" }
local EXP_EVENT = { NEW = "expect-new", DESTROY = "expect-destroy" }
local PROTONAME       -- number -> name (from core.fields().protocols)
local TUPLE_INT = { sport = true, dport = true, type = true, code = true, id = true,
                    packets = true, bytes = true }
local INT = { mark = true, secmark = true, zone = true, use = true, id = true, class = true,
              portid = true }

--- M.init(env): env.fields.protocols
function M.init(env)
  PROTONAME = {}
  for k, v in pairs(env.fields.protocols) do PROTONAME[v] = k end
end

local function family_of(addr)
  return addr and addr:find(":", 1, true) and "ipv6" or "ipv4"
end

-- Every number conntrack prints is an integer; anything else makes the line bad.
local function num(v)
  local n = tonumber(v)
  return n and math.tointeger(n)
end

local function expectation(ev, rest)
  local part, t = nil, nil
  for tok in rest:gmatch("%S+") do
    local k, v = tok:match("^([%w%-]+)=(.*)$")
    if k and (k == "proto" or TUPLE_INT[k] or INT[k]) and num(v) == nil then
      return nil, "bad number '" .. tok .. "'"
    elseif k == "proto" then
      ev.protonum = num(v); ev.proto = PROTONAME[ev.protonum] or v
    elseif k == "src" or k == "mask-src" or k == "master-src" then
      part = k == "src" and "tuple" or k == "mask-src" and "mask" or "master"
      t = { src = v }; ev[part] = t
    elseif (k == "dst" or k == "mask-dst" or k == "master-dst") and t then
      t.dst = v
    elseif k and TUPLE_INT[k] and t and part then
      t[k] = num(v)
    elseif k == "helper" or k == "fn" then
      ev[k] = v
    elseif k and INT[k] then
      ev[k] = num(v)
    elseif not k and tok:match("^[A-Z,]+$") then
      for f in tok:gmatch("[A-Z]+") do ev.flags[f:lower()] = true end
    elseif not k and tonumber(tok) and ev.timeout == nil and not ev.protonum then
      ev.timeout = num(tok)
    else
      return nil, "unexpected '" .. tok .. "'"
    end
  end
  if not ev.tuple or not ev.master then return nil, "not an expectation line" end
  ev.family = family_of(ev.tuple.src)
  ev.master.proto, ev.master.protonum = ev.proto, ev.protonum
  return ev
end

local L3 = { ipv4 = true, ipv6 = true, unknown = true }
local MONTH = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9,
                Oct = 10, Nov = 11, Dec = 12 }

-- ctime(3) text ("Tue Nov 14 22:13:20 2023", local time) -> epoch seconds
local function ctime(text)
  local mon, day, h, m, sec, y = text:match("^%a%a%a (%a%a%a) +(%d+) (%d+):(%d+):(%d+) (%d+)$")
  if not MONTH[mon] then return nil end
  return os.time { year = tonumber(y), month = MONTH[mon], day = tonumber(day), hour = tonumber(h),
                   min = tonumber(m), sec = tonumber(sec) }
end

local function conntrack(ev, rest)
  -- -o ktimestamp: "[start=CTIME] [stop=CTIME]", words with spaces in them
  local bad
  if rest:find("=%a%a%a %a%a%a ") then rest = rest:gsub(" %[(%a+)=(%a%a%a %a%a%a +%d+ [%d:]+ %d+)%]", function(k, v)
    local t = ctime(v)
    if (k ~= "start" and k ~= "stop") or not t then bad = k return end
    ev["k" .. k] = t
    return ""
  end) end
  if bad then return nil, "bad [" .. bad .. "=]" end
  local words = {}
  for w in rest:gmatch("%S+") do words[#words + 1] = w end
  local i = 1
  -- -o extended: "ipv4     2 tcp      6"
  if L3[words[1]] and num(words[2]) and words[3] and not num(words[3]) and not words[3]:find("=", 1, true)
     and num(words[4]) then
    ev.family = words[1] ~= "unknown" and words[1] or nil
    i = 3
  end
  ev.proto = words[i]; ev.protonum = num(words[i + 1]); i = i + 2
  if not ev.protonum then return nil, "no protocol number" end
  if ev.proto == "unknown" then ev.proto = tostring(ev.protonum) end
  if words[i] and words[i]:match("^%d+$") then ev.timeout = num(words[i]); i = i + 1 end
  if words[i] and words[i]:match("^[A-Z_0-9]+$") then ev.state = words[i]; i = i + 1 end
  local status = {}
  ev.status = status
  local dir, t, in_tuple = nil, nil, false
  local unreplied = false
  local gre = ev.protonum == 47
  local icmp = ev.protonum == 1 or ev.protonum == 58   -- else id= is the conntrack id
  while i <= #words do
    local tok = words[i]
    local k, v = tok:match("^([%w%-]+)=(.*)$")
    if k and (TUPLE_INT[k] or INT[k] or k == "zone-orig" or k == "zone-reply" or k == "delta-time")
       and num(v) == nil then
      return nil, "bad number '" .. tok .. "'"
    elseif k == "src" then
      dir = dir == nil and "orig" or "reply"
      t = { src = v }; ev[dir] = t; in_tuple = true
    elseif in_tuple and k == "dst" then
      t.dst = v
    elseif in_tuple and (k == "srckey" or k == "dstkey") and gre and num(v) then
      t[k == "srckey" and "sport" or "dport"] = num(v)
    elseif in_tuple and k and TUPLE_INT[k] and not (k == "id" and (t.id ~= nil or not icmp)) then
      t[k] = num(v)
    elseif (k == "zone-orig" and ev.orig) or (k == "zone-reply" and ev.reply) then
      ev[k == "zone-orig" and "orig" or "reply"].zone = num(v)
    elseif tok == "[UNREPLIED]" then
      unreplied = true; in_tuple = false
    elseif tok == "[ASSURED]" then status.assured = true; in_tuple = false
    elseif tok == "[OFFLOAD]" then status.offload = true; in_tuple = false
    elseif tok == "[HW_OFFLOAD]" then status.hw_offload = true; in_tuple = false
    elseif tok == "[USERSPACE]" then in_tuple = false
    elseif k == "delta-time" then
      ev.delta_time = num(v); in_tuple = false
    elseif k == "helper" or k == "secctx" or k == "progname" then
      ev[k] = v; in_tuple = false
    elseif k == "labels" then
      ev.labels = {}
      for name in v:gmatch("[^,]+") do ev.labels[name] = true end
      in_tuple = false
    elseif tok == "labels" then          -- -o labels: no set bit has a name
      ev.labels = {}; in_tuple = false
    elseif k and INT[k] then
      ev[k] = num(v); in_tuple = false
    else
      return nil, "unexpected '" .. tok .. "'"
    end
    i = i + 1
  end
  if not ev.orig or not ev.reply then return nil, "missing tuple" end
  if not unreplied then status.seen_reply = true end
  ev.family = ev.family or family_of(ev.orig.src)
  return ev
end

-- -o xml ---------------------------------------------------------------------------

local XML_EVENT = { new = "new", update = "update", destroy = "destroy" }
local XML_EXP_EVENT = { new = "expect-new", destroy = "expect-destroy" }

local function xml_tuple(l3, l4)
  local t = { src = l3:match("<src>([^<]*)</src>"), dst = l3:match("<dst>([^<]*)</dst>") }
  local sp, dp = l4:match("<sport>(%d+)</sport>"), l4:match("<dport>(%d+)</dport>")
  if not sp then
    sp, dp = l4:match("<srckey>0x(%x+)</srckey>"), l4:match("<dstkey>0x(%x+)</dstkey>")
    sp, dp = sp and tonumber(sp, 16), dp and tonumber(dp, 16)
  end
  t.sport, t.dport = num(sp), num(dp)
  return t
end

local function xml_when(ev, body)
  local w = body:match("<when>(.-)</when>")
  if not w then return end
  local f = {}
  for k, v in w:gmatch("<(%a+)>(%d+)</%a+>") do f[k] = tonumber(v) end
  if f.year and f.month and f.day and f.hour and f.min and f.sec then
    ev.time = os.time { year = f.year, month = f.month, day = f.day, hour = f.hour, min = f.min, sec = f.sec }
  end
end

local function xml_conntrack(ev, body)
  local dirs = {}
  for dir, m in body:gmatch('<meta direction="(%a+)">(.-)</meta>') do dirs[dir] = m end
  local o, r = dirs.original, dirs.reply
  if not o or not r then return nil, "missing tuple" end
  for name, m in pairs { orig = o, reply = r } do
    local l3 = m:match("<layer3[^>]*>(.-)</layer3>") or ""
    local l4 = m:match("<layer4[^>]*>(.-)</layer4>") or ""
    local t = xml_tuple(l3, l4)
    t.zone = num(m:match("</layer4><zone>(%d+)</zone>"))
    t.packets, t.bytes = num(m:match("<packets>(%d+)</packets>")), num(m:match("<bytes>(%d+)</bytes>"))
    ev[name] = t
  end
  local fam = o:match('<layer3 protonum="%d+" protoname="(%w+)">')
  ev.family = fam ~= "unknown" and fam or nil
  local pn, pname = o:match('<layer4 protonum="(%d+)" protoname="(%w+)">')
  ev.protonum = num(pn)
  if not ev.protonum then return nil, "no protocol number" end
  ev.proto = PROTONAME[ev.protonum] or tostring(ev.protonum)
  local icmp = ev.protonum == 1 or ev.protonum == 58
  if icmp then   -- XML carries no ICMP type, code or id
    for _, t in ipairs { ev.orig, ev.reply } do t.sport, t.dport = nil, nil end
  end
  local m = dirs.independent or ""
  local status = {}
  ev.status = status
  if m ~= "" or body:find("<assured/>", 1, true) then
    -- the library names every protocol's state from the TCP list
    if ev.protonum == 6 then ev.state = m:match("<state>(%u[%u_%d]*)</state>") end
    for _, k in ipairs { "timeout", "mark", "secmark", "zone", "use", "id" } do
      ev[k] = num(m:match("<" .. k .. ">(%d+)</" .. k .. ">"))
    end
    ev.secctx = m:match("<secctx>([^<]*)</secctx>")
    local labels = m:match("<labels>(.-)</labels>")
    if labels then
      ev.labels = {}
      for name in labels:gmatch("<label>([^<]*)</label>") do ev.labels[name] = true end
    end
    if m:find("<assured/>", 1, true) then status.assured = true end
    if not m:find("<unreplied/>", 1, true) then status.seen_reply = true end
    local start, stop = m:match("<start>(%d+)</start>"), m:match("<stop>(%d+)</stop>")
    if start then ev.start = tonumber(start) / 1e9 end
    if stop then ev.stop = tonumber(stop) / 1e9 end
    if not start then ev.delta_time = num(m:match("<deltatime>(%d+)</deltatime>")) end
  end
  xml_when(ev, body)
  ev.helper = body:match("<helper>([^<]*)</helper>")
  return ev
end

local function xml_expect(ev, body)
  local l3 = body:match("<layer3[^>]*>(.-)</layer3>")
  local l4 = body:match("<layer4[^>]*>(.-)</layer4>")
  if not l3 or not l4 then return nil, "not an expectation line" end
  local fam = body:match('<layer3 protonum="%d+" protoname="(%w+)">')
  ev.family = fam ~= "unknown" and fam or nil
  ev.protonum = num(body:match('<layer4 protonum="(%d+)"'))
  if not ev.protonum then return nil, "no protocol number" end
  ev.proto = PROTONAME[ev.protonum] or tostring(ev.protonum)
  for name, tag in pairs { tuple = "expected", mask = "mask", master = "master" } do
    local pat = "<" .. tag .. ">(.-)</" .. tag .. ">"
    ev[name] = xml_tuple(l3:match(pat) or "", l4:match(pat) or "")
  end
  ev.master.proto, ev.master.protonum = ev.proto, ev.protonum
  local m = body:match("<meta>(.-)</meta>") or ""
  ev.helper = m:match("<helper%-name>([^<]*)</helper%-name>")
  ev.timeout, ev.class, ev.zone = num(m:match("<timeout>(%d+)</timeout>")), num(m:match("<class>(%d+)</class>")),
    num(m:match("<zone>(%d+)</zone>"))
  ev.flags = {}
  for _, f in ipairs { "permanent", "inactive", "userspace" } do
    if m:find("<" .. f .. "/>", 1, true) then ev.flags[f] = true end
  end
  xml_when(ev, m)
  return ev
end

-- One <flow>...</flow> line, and the [USERSPACE] suffix conntrack puts after it.
local function xml(line)
  local attrs, body, tail = line:match("^<flow([^>]*)>(.*)</flow>(.*)$")
  if not body then return nil, "not a <flow> line" end
  local ev = {}
  local typ = attrs:match('^ type="(%a+)"$')
  if attrs ~= "" and not typ then return nil, "bad <flow " .. attrs .. ">" end
  local ok, err
  if body:match("^<layer3") then
    ev.event = typ and XML_EXP_EVENT[typ]
    ok, err = xml_expect(ev, body)
  else
    ev.event = typ and XML_EVENT[typ]
    ok, err = xml_conntrack(ev, body)
  end
  if not ok then return nil, err end
  if typ and not ev.event then return nil, "unknown event type '" .. typ .. "'" end
  if tail ~= "" then
    local pid, prog = tail:match("^ %[USERSPACE%] portid=(%d+)(.*)$")
    if not pid or (prog ~= "" and not prog:match("^ progname=")) then return nil, "unexpected '" .. tail .. "'" end
    ev.portid, ev.progname = num(pid), prog ~= "" and prog:sub(11) or nil
  end
  return ev
end

-- delta-time=N: the kernel's timestamps are gone from the text; keep their
-- difference, ending at the line's time (or at N when it has none).
local function delta_times(ev)
  if ev.delta_time then
    local stop = ev.time or ev.delta_time
    ev.start, ev.stop, ev.delta_time = stop - ev.delta_time, stop, nil
  end
end

--- parse(line) -> event table | nil, message
-- Event lines give `event` ("new"... or "expect-new"...); lines without an event
-- prefix (conntrack -L) give entries. A "[sec.usec]\t" prefix sets `time`.
function M.parse(line)
  local ev = {}
  local rest = line
  if rest:sub(1, 5) == "<flow" then
    local ok, err = xml(rest)
    if not ok then return nil, err end
    ev = ok
    delta_times(ev)
    return ev
  end
  -- "[sec.usec]\t": zero-padded (conntrack lines) or space-padded on the right
  -- (expectation lines, where "5123  " is 5123 microseconds)
  local sec, usec, after = rest:match("^%[(%d+) *%.(%d+) *%]\t(.*)$")
  if sec then
    ev.time = tonumber(sec) + tonumber(usec) / 1e6
    rest = after
  end
  local kind
  kind, after = rest:match("^%s*%[(%u+)%] (.*)$")
  if kind then rest = after end
  local is_exp = rest:match("^%d+ proto=") or rest:match("^proto=")
  local ok, err
  if is_exp then
    if kind then ev.event = EXP_EVENT[kind] end
    ev.flags = {}
    ok, err = expectation(ev, rest)
  else
    if kind then ev.event = EVENT[kind] end
    ok, err = conntrack(ev, rest)
  end
  if not ok then return nil, err end
  if kind and not ev.event then return nil, "unknown event [" .. kind .. "]" end
  if ev.kstart then
    -- -o ktimestamp: the kernel's times, to the second
    ev.start, ev.stop, ev.delta_time = ev.kstart, ev.kstop, nil
    ev.kstart, ev.kstop = nil, nil
  else
    delta_times(ev)
  end
  return ev
end

return M
