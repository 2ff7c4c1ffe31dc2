-- ctlua.sink — where event lines go: stdout, a file, a TCP or unix stream socket
-- (src/sink.c: bounded queue, reconnects), or syslog (datagrams to /dev/log).
--
--   local s = ct.sink{to = "tcp", address = "127.0.0.1:5140", format = "json"}
--   ct.on("destroy", function(ev) s:write(ev) end)
--
-- A line that cannot be written now is queued up to max_queue bytes, then
-- dropped and counted; writing never blocks event delivery. Every sink's counts
-- are in ct.stats().sinks and in /metrics (ctlua_sink_*): offered = sent +
-- dropped + pending, where a stream line is sent once the kernel says the peer
-- has it, and dropped when its connection broke before that.
-- M.init(env): env.core, env.ct (sinks format with ct.format and ct.json).

local err = require "ctlua.err"

local M = {}

local core, ct, checking

--- M.init(env): env.core, env.ct, env.mode ("check": sockets are never opened)
function M.init(env) core, ct, checking = env.core, env.ct, env.mode == "check" end

-- Under --check a socket sink is checked, never opened: it takes lines and
-- counts them as dropped.
local function dry(s)
  local n = 0
  s.put = function() n = n + 1 return false end
  s.stat = function() return { offered = n, sent = 0, dropped = n, pending = 0, lines = 0, queued = 0,
                               connected = false, reconnects = 0 } end
  return s
end

local FACILITY = { kern = 0, user = 1, daemon = 3, auth = 4, syslog = 5, local0 = 16, local1 = 17,
                   local2 = 18, local3 = 19, local4 = 20, local5 = 21, local6 = 22, local7 = 23 }
local SEVERITY = { emerg = 0, alert = 1, crit = 2, err = 3, warning = 4, notice = 5, info = 6, debug = 7 }

local Sink = {}
Sink.__index = Sink

local all = setmetatable({}, { __mode = "k" })    -- sink -> true, for stats and metrics

-- The text of one record: an event formatted as asked, or a string as is.
function Sink:line(v)
  if type(v) == "table" then
    if self.format == "json" then return self.json(v) end
    if self.xml and not self.xml_head then
      -- conntrack -o xml's head before the first event, its tail at the end (the C
      -- writer, src/route.c, does the same for the events it writes)
      self.xml_head = true
      local tag = v.tuple and "expect" or "conntrack"
      self.put(self, '<?xml version="1.0" encoding="utf-8"?>')
      self.put(self, "<" .. tag .. ">")
      ct.on("stop", function() self.put(self, "</" .. tag .. ">") end)
    end
    return self.ct_format(v, self.text_opts)
  end
  if type(v) ~= "string" then
    err.argerror(3, 1, "write", "event table or string expected, got %s", type(v))
  end
  return v
end

--- sink:write(ev | text) -> true | false (dropped)
function Sink:write(v)
  local text = self:line(v)
  return self.put(self, text)
end

--- sink:stats() -> { offered, sent, dropped, pending, lines, queued, connected, reconnects }
function Sink:stats()
  return self.stat(self)
end

--- sink:close()
function Sink:close()
  all[self] = nil
  if self.closer then self.closer(self) end
end

-- Whether v is a sink (ct.on takes one as a handler).
function M.is_sink(v) return getmetatable(v) == Sink end

-- A sink on a file descriptor: stdout, stderr, or a path opened for appending.
-- Written in C (src/route.c): ct.on(name, sink) events go there without Lua, as
-- they go to the socket sinks (s.handle, src/sink.c).
local function file_sink(s, target, maxq)
  local out, msg = core.output(target, maxq)
  if not out then return nil, msg end
  s.output = out
  s.put = function(_, text) return out:write(text) end
  s.stat = function() return out:stats() end
  s.closer = function() out:close() end
  return s
end

-- conntrack's -o words, each a boolean option of a text sink (as ct.format takes them).
local WORDS = { "extended", "timestamp", "id", "ktimestamp", "labels", "userspace", "xml", "save" }

--- ct.sink{to = "stdout"|"stderr"|"file"|"tcp"|"udp"|"unix"|"syslog", format = "text"|"json",
--           (tcp and udp: address "HOST:PORT", HOST a name or an address)
--           path, address, max_queue, ident, facility, severity, name, raw, on_connect,
--           extended, timestamp, id, ktimestamp, labels, userspace, xml, save, output}
-- on_connect() -> text: sent first on each new tcp/unix connection. The -o words
-- (booleans, or output = "extended,id" as conntrack -o takes them) shape text lines.
-- -> sink | nil, message, code
function M.new(o)
  if type(o) ~= "table" then err.argerror(3, 1, "sink", "table expected, got %s", type(o)) end
  local to = o.to or "stdout"
  local format = o.format or "text"
  if format ~= "text" and format ~= "json" then
    err.argerror(3, 1, "sink", "format: \"text\" or \"json\"")
  end
  -- The words as conntrack -o takes them, the output text and the booleans together.
  local words = {}
  if o.output ~= nil then
    if type(o.output) ~= "string" then err.argerror(3, 1, "sink", "output: -o words as text (\"extended,id\")") end
    words[1] = o.output
  end
  for _, w in ipairs(WORDS) do
    if o[w] then words[#words + 1] = w end
  end
  local text_opts = #words > 0 and table.concat(words, ",") or nil
  -- Checked once here; the C writer (src/route.c) takes the bits.
  local okb, bits = pcall(core.format_opts, text_opts)
  if not okb then err.argerror(3, 1, "sink", "%s", tostring(bits):match("%((.*)%)$") or tostring(bits)) end
  local s = setmetatable({ to = to, format = format, json = ct.json, ct_format = ct.format,
                           text_opts = bits ~= 0 and text_opts or nil, text_bits = bits,
                           xml = format == "text" and bits & 64 ~= 0 }, Sink)
  local maxq = o.max_queue or 1024 * 1024
  if math.type(maxq) ~= "integer" or maxq < 1 then
    err.argerror(3, 1, "sink", "max_queue: a positive number of bytes")
  end
  local name
  if to == "stdout" or to == "stderr" then
    file_sink(s, to, maxq)
    name = to
  elseif to == "file" then
    if type(o.path) ~= "string" then err.argerror(3, 1, "sink", "path expected for a file") end
    local ok, msg = file_sink(s, o.path, maxq)
    if not ok then return err.fail(msg, "EIO") end
    name = "file:" .. o.path
  elseif to == "tcp" or to == "unix" or to == "udp" then
    local addr = to == "unix" and o.path or o.address
    if type(addr) ~= "string" then
      err.argerror(3, 1, "sink", "%s expected", to == "unix" and "path" or "address")
    end
    -- a name or an address, then the port: the C side resolves or parses it
    if to ~= "unix" and not (addr:match("^[%w%.%-_]+:%d+$") or addr:match("^%[[%x:%.]+%]:%d+$")
                             or addr:match("^[%x:]+:%d+$")) then
      err.argerror(3, 1, "sink", "HOST:PORT expected")
    end
    if checking then
      dry(s)
    else
      local h, msg, code = core.sink_open(to, addr, maxq, to ~= "udp" and o.on_connect or nil)
      if not h then return nil, msg, code end
      -- Stream lines end in a newline (JSON lines, or conntrack text, one per line)
      -- unless raw; a UDP datagram is one record as it is. The C side frames them,
      -- for ct.on(name, sink) too (src/route.c).
      h:frame(not (o.raw or to == "udp"))
      s.put = function(_, text) return h:write(text) end
      s.stat = function() return h:stats() end
      s.closer = function() h:close() end
      s.handle = h
    end
    name = to .. ":" .. addr
  elseif to == "syslog" then
    local path = o.path or "/dev/log"
    local fac = FACILITY[o.facility or "daemon"]
    local sev = SEVERITY[o.severity or "info"]
    if not fac then err.argerror(3, 1, "sink", "unknown facility '%s'", tostring(o.facility)) end
    if not sev then err.argerror(3, 1, "sink", "unknown severity '%s'", tostring(o.severity)) end
    if checking then
      dry(s)
    else
      local h, msg, code = core.sink_open("dgram", path, maxq)
      if not h then return nil, msg, code end
      local pri = "<" .. (fac * 8 + sev) .. ">"
      local tag = (o.ident or "ctlua") .. "[" .. core.pid() .. "]: "
      -- What syslog(3) sends to /dev/log: <PRI>TIMESTAMP TAG: message (RFC 3164),
      -- the time as os.date("%b %e %H:%M:%S ") writes it.
      h:frame(false, pri, "%b %e %H:%M:%S ", tag)
      s.put = function(_, text) return h:write(text) end
      s.stat = function() return h:stats() end
      s.closer = function() h:close() end
      s.handle = h
    end
    name = "syslog:" .. path
  else
    err.argerror(3, 1, "sink", "to: \"stdout\", \"stderr\", \"file\", \"tcp\", \"udp\", \"unix\" or \"syslog\"")
  end
  s.name = o.name or name
  if s.handle then s.handle:label(s.name) end
  all[s] = true
  return s
end

-- Every open sink: { name = stats }
function M.stats()
  local out = {}
  for s in pairs(all) do out[s.name] = s:stats() end
  return out
end

-- "tcp:HOST:PORT", "udp:HOST:PORT", "unix:PATH", "file:PATH", "syslog[:PATH]",
-- "stdout", "stderr" -> options for M.new (used by scripts' --to arguments).
function M.spec(text)
  local kind, rest = text:match("^(%a+):(.+)$")
  kind = kind or text
  if (kind == "tcp" or kind == "udp") and rest and rest:match("^.+:%d+$") then
    return { to = kind, address = rest }
  end
  if (kind == "unix" or kind == "file") and rest then return { to = kind, path = rest } end
  if kind == "syslog" then return { to = "syslog", path = rest } end
  if (kind == "stdout" or kind == "stderr") and not rest then return { to = kind } end
  return nil, "bad sink '" .. text .. "' (tcp:HOST:PORT, udp:HOST:PORT, unix:PATH, file:PATH, syslog[:PATH], stdout)"
end

return M
