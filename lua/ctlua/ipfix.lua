-- ctlua.ipfix — IPFIX export (RFC 7011) of finished flows to a collector.
--
--   local x = ct.ipfix{ collector = "127.0.0.1:4739", transport = "udp" }
--   ct.on("destroy", function(ev) x:export(ev) end)
--
-- One biflow record per connection (RFC 5103): the original direction in the
-- forward elements, the reply direction's counters in the reverse elements
-- (enterprise 29305). Four templates: IPv4 and IPv6, each plain or with the
-- post-NAT elements for entries that were NATed. Records are batched into
-- messages of at most `mtu` bytes, sent when full or every `flush` seconds;
-- templates go with the first message and again every `template_refresh`
-- seconds over UDP, once per connection over TCP. Sending never blocks: over
-- UDP a message that cannot go now is dropped, over TCP the stream sink queues
-- up to `max_queue` bytes; dropped records are counted.
-- M.init(env): env.core (addresses), env.ct (the exporter writes to a ct.sink,
-- registers ct.on handlers and a ct.every timer, reads ct.now).

local err = require "ctlua.err"

local M = {}

local core, ct

--- M.init(env): env.core, env.ct
function M.init(env) core, ct = env.core, env.ct end

local pack, concat, floor = string.pack, table.concat, math.floor

local REVERSE_PEN = 29305       -- RFC 5103 reverse information elements
local DOC_PEN = 32473           -- RFC 5612 documentation PEN: ctlua has none of its own

-- Information elements: name -> { id, length [, enterprise] }
local IE = {
  octetDeltaCount = { 1, 8 }, packetDeltaCount = { 2, 8 }, protocolIdentifier = { 4, 1 },
  sourceTransportPort = { 7, 2 }, sourceIPv4Address = { 8, 4 }, destinationTransportPort = { 11, 2 },
  destinationIPv4Address = { 12, 4 }, sourceIPv6Address = { 27, 16 }, destinationIPv6Address = { 28, 16 },
  flowEndReason = { 136, 1 }, flowId = { 148, 8 },
  flowStartMilliseconds = { 152, 8 }, flowEndMilliseconds = { 153, 8 },
  postNATSourceIPv4Address = { 225, 4 }, postNATDestinationIPv4Address = { 226, 4 },
  postNAPTSourceTransportPort = { 227, 2 }, postNAPTDestinationTransportPort = { 228, 2 },
  postNATSourceIPv6Address = { 281, 16 }, postNATDestinationIPv6Address = { 282, 16 },
  reverseOctetDeltaCount = { 1, 8, REVERSE_PEN }, reversePacketDeltaCount = { 2, 8, REVERSE_PEN },
  ctMark = { 1, 4, "pen" },    -- the conntrack mark, enterprise-specific (opts.pen)
}

local COMMON = { "sourceTransportPort", "destinationTransportPort", "protocolIdentifier",
                 "octetDeltaCount", "packetDeltaCount", "reverseOctetDeltaCount",
                 "reversePacketDeltaCount", "flowStartMilliseconds", "flowEndMilliseconds",
                 "flowEndReason", "flowId", "ctMark" }

local function fields(addrs, nat)
  local f = { addrs[1], addrs[2] }
  for _, n in ipairs(COMMON) do f[#f + 1] = n end
  for _, n in ipairs(nat or {}) do f[#f + 1] = n end
  return f
end

-- Template id -> element names, in record order.
local TEMPLATES = {
  [256] = fields { "sourceIPv4Address", "destinationIPv4Address" },
  [257] = fields { "sourceIPv6Address", "destinationIPv6Address" },
  [258] = fields({ "sourceIPv4Address", "destinationIPv4Address" },
                 { "postNATSourceIPv4Address", "postNATDestinationIPv4Address",
                   "postNAPTSourceTransportPort", "postNAPTDestinationTransportPort" }),
  [259] = fields({ "sourceIPv6Address", "destinationIPv6Address" },
                 { "postNATSourceIPv6Address", "postNATDestinationIPv6Address",
                   "postNAPTSourceTransportPort", "postNAPTDestinationTransportPort" }),
}
local TIDS = { 256, 257, 258, 259 }   -- in the order sets go out
M.TEMPLATES, M.IE = TEMPLATES, IE

local function template_set(pen)
  local parts = {}
  for _, tid in ipairs(TIDS) do
    local names = TEMPLATES[tid]
    parts[#parts + 1] = pack(">I2I2", tid, #names)
    for _, n in ipairs(names) do
      local ie = IE[n]
      local ent = ie[3] == "pen" and pen or ie[3]
      if ent then
        parts[#parts + 1] = pack(">I2I2I4", ie[1] | 0x8000, ie[2], ent)
      else
        parts[#parts + 1] = pack(">I2I2", ie[1], ie[2])
      end
    end
  end
  local body = concat(parts)
  return pack(">I2I2", 2, 4 + #body) .. body
end

local Exporter = {}
Exporter.__index = Exporter

-- An IPFIX message: the header (version 10, length, export time, sequence
-- number, observation domain), then the sets in body.
function Exporter:message(now, body)
  return pack(">I2I2I4I4I4", 10, 16 + #body, floor(now), self.seq & 0xffffffff, self.domain) .. body
end

-- No records pending: one empty list per template.
function Exporter:clear()
  for _, tid in ipairs(TIDS) do self.pending[tid] = {} end
  self.count, self.size = 0, 0
end

-- The record of one flow, and its template id; nil when ev is not a flow.
function Exporter:record(ev)
  local o, r = ev.orig, ev.reply
  if type(o) ~= "table" or type(r) ~= "table" or not o.src or not o.dst then return nil end
  local core = self.core
  local fam, _, src = core.addr(o.src)
  local _, _, dst = core.addr(o.dst)
  if not fam or not dst then return nil end
  local v6 = fam == "ipv6"
  local st = ev.status or {}
  local nat = (st.src_nat or st.dst_nat) and r.src and r.dst
  local tid = (v6 and 257 or 256) + (nat and 2 or 0)
  local sport, dport = o.sport or 0, o.dport or 0
  if o.type then sport, dport = 0, (o.type << 8) | (o.code or 0) end  -- ICMP, as NetFlow does
  local id = ev.id
  local first = ev.start or (id and self.first[id]) or ev.time or self.now()
  local last = ev.stop or ev.time or self.now()
  if id then self.first[id] = nil end
  local parts = {
    src, dst, pack(">I2I2B", sport & 0xffff, dport & 0xffff, ev.protonum or 0),
    pack(">I8I8I8I8", o.bytes or 0, o.packets or 0, r.bytes or 0, r.packets or 0),
    pack(">I8I8", floor(first * 1000 + 0.5), floor(last * 1000 + 0.5)),
    -- flowEndReason: 3 = end of flow detected (a DESTROY), 2 = active (anything else)
    pack(">BI8I4", ev.event == "destroy" and 3 or 2, id or 0, ev.mark or 0),
  }
  if nat then
    local _, _, nsrc = core.addr(r.dst)       -- after NAT: the reply's destination
    local _, _, ndst = core.addr(r.src)
    parts[#parts + 1] = nsrc
    parts[#parts + 1] = ndst
    parts[#parts + 1] = pack(">I2I2", (r.dport or 0) & 0xffff, (r.sport or 0) & 0xffff)
  end
  return concat(parts), tid
end

-- Sends what is pending as one message (with the templates when due).
function Exporter:flush()
  if self.count == 0 and not self.force_templates then return true end
  local now = self.now()
  local sets = {}
  -- Records were sized with the decision taken at the first one (export).
  local with_templates
  if self.count > 0 then with_templates = self.due else with_templates = self:templates_due(now) end
  if with_templates then sets[1] = self.tset end
  for _, tid in ipairs(TIDS) do
    local recs = self.pending[tid]
    if #recs > 0 then
      local body = concat(recs)
      sets[#sets + 1] = pack(">I2I2", tid, 4 + #body) .. body
    end
  end
  local n = self.count
  local ok = self.out:write(self:message(now, concat(sets)))
  self.messages = self.messages + 1
  if ok then
    self.sent = self.sent + n
    if with_templates then self.template_time, self.templates_sent = now, self.templates_sent + 1 end
  else
    self.dropped = self.dropped + n
  end
  -- RFC 7011: the sequence number counts data records sent, lost or not, so a
  -- collector can tell how many went missing.
  self.seq = self.seq + n
  self:clear()
  self.force_templates = false
  return ok
end

-- Whether the next message must carry the templates over UDP: the first one, then
-- every `refresh` seconds. Over TCP each connection starts with them (preamble).
function Exporter:templates_due(now)
  if self.transport == "tcp" then return false end
  if self.template_time == nil then return true end
  return now - self.template_time >= self.refresh
end

-- A message of the templates alone: what a TCP connection starts with, queued
-- lines after it.
function Exporter:preamble()
  local now = self.now()
  self.template_time, self.templates_sent = now, self.templates_sent + 1
  return self:message(now, self.tset)
end

--- exporter:export(ev) -> true | false (not a flow, or dropped)
function Exporter:export(ev)
  if type(ev) ~= "table" then
    err.argerror(2, 1, "export", "event table expected, got %s", type(ev))
  end
  local rec, tid = self:record(ev)
  if not rec then return false end
  if self.count == 0 then self.due = self:templates_due(self.now()) end
  local overhead = 16 + 4 + (self.due and #self.tset or 0)
  -- A new set costs its 4-byte header.
  local extra = #rec + (#self.pending[tid] == 0 and 4 or 0)
  if self.count > 0 and overhead + self.size + extra > self.mtu then
    self:flush()
    self.due = self:templates_due(self.now())     -- the next message starts here
  end
  local p = self.pending[tid]
  if #p == 0 then self.size = self.size + 4 end
  p[#p + 1] = rec
  self.size, self.count = self.size + #rec, self.count + 1
  return true
end

--- exporter:stats() -> { records, sent, dropped, messages, templates, pending }
function Exporter:stats()
  return { records = self.sent + self.dropped + self.count, sent = self.sent, dropped = self.dropped,
           messages = self.messages, templates = self.templates_sent, pending = self.count,
           sequence = self.seq }
end

--- exporter:close(): sends what is pending, then stops
function Exporter:close()
  if self.closed then return end
  self:flush()
  self.closed = true
  if self.timer then self.timer:stop() end
  self.out:close()
end

--- ct.ipfix{collector = "HOST:PORT", transport = "udp"|"tcp", domain, template_refresh,
--           mtu, flush, pen, max_queue, first_seen} -> exporter | nil, message, code
function M.new(o)
  if type(o) ~= "table" then err.argerror(3, 1, "ipfix", "table expected, got %s", type(o)) end
  local function bad(what) err.argerror(4, 1, "ipfix", what) end
  local collector = o.collector
  if type(collector) ~= "string" then bad("collector = \"HOST:PORT\" expected") end
  local transport = o.transport or "udp"
  if transport ~= "udp" and transport ~= "tcp" then bad("transport: \"udp\" or \"tcp\"") end
  local function int(name, default, min, max)
    local v = o[name]
    if v == nil then return default end
    if math.type(v) ~= "integer" or v < min or v > max then
      bad(string.format("%s: an integer from %d to %d", name, min, max))
    end
    return v
  end
  local self = setmetatable({
    core = core, now = ct.now, transport = transport,
    domain = int("domain", 1, 0, 0xffffffff), refresh = o.template_refresh or 600,
    mtu = int("mtu", 1400, 512, 65000), pen = int("pen", DOC_PEN, 1, 0xffffffff),
    pending = {}, seq = 0, sent = 0, dropped = 0, messages = 0, templates_sent = 0, first = {},
  }, Exporter)
  self:clear()
  if type(self.refresh) ~= "number" or self.refresh <= 0 then bad("template_refresh: seconds > 0") end
  self.tset = template_set(self.pen)
  local out, msg, code = ct.sink {
    to = transport == "udp" and "udp" or "tcp", address = collector, max_queue = o.max_queue,
    name = "ipfix:" .. transport .. ":" .. collector, raw = true,
    on_connect = transport == "tcp" and function() return self:preamble() end or nil,
  }
  if not out then return nil, msg, code end
  self.out = out
  -- First-seen times, for flows without kernel timestamps: NEW events remember
  -- when, the export uses and forgets it; DESTROYs not exported are forgotten at
  -- the next flush tick.
  if o.first_seen ~= false then
    local dead = {}
    ct.on("new", function(ev) if ev.id and not ev.start then self.first[ev.id] = ev.time end end)
    ct.on("destroy", function(ev) if ev.id then dead[#dead + 1] = ev.id end end)
    self.forget = function()
      for i = 1, #dead do self.first[dead[i]] = nil end
      dead = {}
    end
  end
  -- Nothing pending is lost at stop or when a reload replaces this state.
  ct.on("reload", function() if not self.closed then self:flush() end end)
  ct.on("stop", function() if not self.closed then self:flush() end end)
  local every = o.flush or 1
  if type(every) ~= "number" or every <= 0 then bad("flush: seconds > 0") end
  self.timer = ct.every(every, function()
    if self.forget then self.forget() end
    if self.count > 0 or (transport == "udp" and self.template_time and self:templates_due(self.now())) then
      self.force_templates = self.count == 0
      self:flush()
    end
  end)
  return self
end

return M
