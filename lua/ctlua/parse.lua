-- ctlua.parse — conntrack -E / -E expect text lines back into event tables.
--
-- The inverse of ctlua.format: parse(line) gives a table that format() turns into
-- the same line, byte for byte. Accepts the default output and the -o timestamp and
-- -o id forms, conntrack and expectation lines, `conntrack -L` lines (no event
-- prefix: an entry) and the [USERSPACE] suffix.
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

local function conntrack(ev, rest)
  local words = {}
  for w in rest:gmatch("%S+") do words[#words + 1] = w end
  local i = 1
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
    elseif k and INT[k] then
      ev[k] = num(v); in_tuple = false
    else
      return nil, "unexpected '" .. tok .. "'"
    end
    i = i + 1
  end
  if not ev.orig or not ev.reply then return nil, "missing tuple" end
  if not unreplied then status.seen_reply = true end
  ev.family = family_of(ev.orig.src)
  return ev
end

--- parse(line) -> event table | nil, message
-- Event lines give `event` ("new"... or "expect-new"...); lines without an event
-- prefix (conntrack -L) give entries. A "[sec.usec]\t" prefix sets `time`.
function M.parse(line)
  local ev = {}
  local rest = line
  local sec, usec, after = rest:match("^%[(%d+)%.(%d+)%]\t(.*)$")
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
  if ev.delta_time then
    -- Kernel timestamps are gone from the text; keep their difference.
    local stop = ev.time or ev.delta_time
    ev.start, ev.stop, ev.delta_time = stop - ev.delta_time, stop, nil
  end
  return ev
end

return M
