-- top.lua — a live view of the conntrack table to leave open: the table by state,
-- event rates, and the busiest sources, destinations, services or flows with their
-- live connections, new connections per second and, with accounting on, bytes and
-- packets. Fills the terminal and follows its resizes; keys sort and switch views.
--
--   ctlua scripts/top.lua -- [--interval S] [--decay S] [--view V] [--sort K]
--                            [--top N] [--count N] [--no-color] [--no-dump]
--     --interval S  seconds between refreshes (default 1)
--     --decay S     time constant of the rates (default 5): a rate is an average
--                   that fades, not a count that resets each frame
--     --view V      src, dst, service or flow (default src)
--     --sort K      conns, new, bytes (bytes/s), total (bytes) or key (default conns)
--     --top N       rows when not on a terminal (default 10)
--     --count N     stop after N refreshes (default: until q or interrupted)
--     --no-color    no colour even on a colour terminal (NO_COLOR does the same)
--     --no-dump     never dump the table: event rates only (for huge tables)
--
-- Keys: q quit, v next view, c/n/b/t/k sort, r reverse, p pause, h help.
-- The live numbers (connections, bytes, the states line) come from a dump of the
-- table each refresh, spaced out when a dump takes long; rates from events. Bytes
-- and packets need net.netfilter.nf_conntrack_acct=1.
--
-- Screen (120 columns):
--   ctlua top  events/s: new 12.0  update 30.0  destroy 11.0  expect 0.0   table 1532          12:04:05
--   ESTABLISHED 20  TIME_WAIT 5  SYN_SENT 1  UDP 12  ICMP 2                 acct on, dump 3 ms
--   SOURCE                                CONNS    NEW/s   BYTES/s  PKTS/s    BYTES    PKTS
--   10.0.0.5                                 41      3.2     12.1K     9.0     1.2M    1044
--   q quit  v view: src  sort: [c]onns n b t k  r reverse  p pause  h help
local ct = require "ctlua"
local USAGE = "usage: ctlua scripts/top.lua -- [--interval S] [--decay S] [--view src|dst|service|flow]\n" ..
  "       [--sort conns|new|bytes|total|key] [--top N] [--count N] [--no-color] [--no-dump]"
local opt = require("ctlua.args").parse({ ... }, {
  interval = { "number", 1 }, decay = { "number", 5 }, view = { "string", "src" },
  sort = { "string", "conns" }, top = { "number", 10 }, count = { "number" },
  no_color = { "flag" }, no_dump = { "flag" },
}, USAGE)

local VIEWS = { "src", "dst", "service", "flow" }
local TITLE = { src = "SOURCE", dst = "DESTINATION", service = "SERVICE", flow = "FLOW" }
local SORTS = { c = "conns", n = "new", b = "bytes", t = "total", k = "key" }
local function member(list, v) for _, x in pairs(list) do if x == v then return true end end end
local args = require "ctlua.args"
if not member(VIEWS, opt.view) then args.fail("--view: one of src, dst, service, flow", USAGE) end
if not member(SORTS, opt.sort) then args.fail("--sort: one of conns, new, bytes, total, key", USAGE) end
if opt.interval <= 0 or opt.decay <= 0 then args.fail("--interval and --decay must be > 0", USAGE) end

local MAX_KEYS = 20000        -- per view: what a hostile scan can make us remember
local cols, rows = ct.term_size()
local screen = cols ~= nil    -- full-screen on a terminal, plain blocks otherwise
local term = os.getenv("TERM") or ""
local color = screen and not opt.no_color and os.getenv("NO_COLOR") == nil and term ~= "dumb" and term ~= ""

-- Per view, per key: live numbers from the last dump, rates decaying by opt.decay.
local stats = {}
for _, v in ipairs(VIEWS) do stats[v] = {} end
local function rec(view, key)
  local t = stats[view]
  local r = t[key]
  if not r then
    r = { key = key, conns = 0, bytes = 0, pkts = 0, new = 0, rbytes = 0, rpkts = 0,
          p_new = 0, p_bytes = 0, p_pkts = 0 }
    t[key] = r
  end
  return r
end
local function hostport(a, p) return a:find(":", 1, true) and "[" .. a .. "]:" .. p or a .. ":" .. p end
-- The four keys of an entry or event: one per view.
local function keys(e)
  local o = e.orig or {}
  local src, dst = o.src or "?", o.dst or "?"
  local svc = o.dport and (e.proto .. "/" .. o.dport) or e.proto or "?"
  local flow = e.proto .. " " .. src .. " -> " .. (o.dport and hostport(dst, o.dport) or dst)
  return src, dst, svc, flow
end
local function each(e, fn)
  local a, b, c, d = keys(e)
  fn(rec("src", a)); fn(rec("dst", b)); fn(rec("service", c)); fn(rec("flow", d))
end

-- Events: rates by type, new connections per key, the last bytes of a flow.
local events = { new = 0, update = 0, destroy = 0, expect = 0 }
local rate = { new = 0, update = 0, destroy = 0, expect = 0 }
local seen = {}               -- conntrack id -> bytes, packets at the last look
local function counters(e)
  local o, r = e.orig or {}, e.reply or {}
  if not o.bytes then return nil end
  return o.bytes + (r.bytes or 0), (o.packets or 0) + (r.packets or 0)
end
ct.on("new", function(ev)
  events.new = events.new + 1
  each(ev, function(r) r.p_new = r.p_new + 1 end)
end)
ct.on("update", function() events.update = events.update + 1 end)
ct.on("destroy", function(ev)
  events.destroy = events.destroy + 1
  -- What a flow sent since the last dump is in its DESTROY (with accounting).
  local b, p = counters(ev)
  local last = ev.id and seen[ev.id]
  if b and last then
    each(ev, function(r) r.p_bytes = r.p_bytes + b - last[1]; r.p_pkts = r.p_pkts + p - last[2] end)
  end
  if ev.id then seen[ev.id] = nil end
end)
ct.on("expect-new", function() events.expect = events.expect + 1 end)

-- The dump: live connections per key, the table by state, byte and packet deltas.
local states, acct, dump_ms, dump_err, next_dump = {}, false, nil, nil, 0
local function dump(t)
  if opt.no_dump or t < next_dump then return end
  local t0 = ct.now()
  for _, v in ipairs(VIEWS) do for _, r in pairs(stats[v]) do r.conns, r.bytes, r.pkts = 0, 0, 0 end end
  local st, now_seen, any_acct = {}, {}, false
  local ok, err = pcall(function()
    for e in ct.entries() do
      local name = e.state or (e.proto or "?"):upper()
      st[name] = (st[name] or 0) + 1
      local b, p = counters(e)
      local last = e.id and seen[e.id]
      if b then any_acct = true end
      if e.id and b then now_seen[e.id] = { b, p } end
      each(e, function(r)
        r.conns = r.conns + 1
        if b then
          r.bytes, r.pkts = r.bytes + b, r.pkts + p
          -- a flow new since the last dump sent all of it since
          if last then r.p_bytes, r.p_pkts = r.p_bytes + b - last[1], r.p_pkts + p - last[2]
          else r.p_bytes, r.p_pkts = r.p_bytes + b, r.p_pkts + p end
        end
      end)
    end
  end)
  if not ok then
    dump_err = tostring(err):gsub("^.-: ", "", 1)
    next_dump = t + 10            -- try again later, events go on meanwhile
    return
  end
  dump_err, seen, states, acct = nil, now_seen, st, any_acct
  local took = ct.now() - t0
  dump_ms = took * 1000
  -- at most a tenth of the time dumping: a big table is dumped less often
  next_dump = t + math.max(0, took * 10 - opt.interval)
end

-- Rates: an exponentially weighted average of each interval's count per second.
local function fade(old, count, dt)
  local w = math.exp(-dt / opt.decay)
  return old * w + (count / dt) * (1 - w)
end
local function advance(dt)
  for k, n in pairs(events) do rate[k] = fade(rate[k], n, dt); events[k] = 0 end
  for _, v in ipairs(VIEWS) do
    local t, n = stats[v], 0
    for key, r in pairs(t) do
      r.new = fade(r.new, r.p_new, dt)
      r.rbytes, r.rpkts = fade(r.rbytes, math.max(0, r.p_bytes), dt), fade(r.rpkts, math.max(0, r.p_pkts), dt)
      r.p_new, r.p_bytes, r.p_pkts = 0, 0, 0
      if r.conns == 0 and r.new < 0.005 and r.rbytes < 0.5 then t[key] = nil else n = n + 1 end
    end
    if n > MAX_KEYS then   -- keep the live and the busiest
      local all = {}
      for _, r in pairs(t) do all[#all + 1] = r end
      table.sort(all, function(a, b) return a.conns + a.new > b.conns + b.new end)
      for i = MAX_KEYS + 1, #all do t[all[i].key] = nil end
    end
  end
end

-- Drawing -------------------------------------------------------------------------
local view, sort, reverse, paused, help, stopped = opt.view, opt.sort, false, false, false, false
local ESC = "\27["
local function paint(s, code) return color and code and (ESC .. code .. "m" .. s .. ESC .. "0m") or s end
local STATE_COLOR = { ESTABLISHED = "32", SYN_SENT = "33", SYN_RECV = "33", TIME_WAIT = "36",
                      CLOSE = "90", CLOSE_WAIT = "35", FIN_WAIT = "35", LAST_ACK = "35" }

local function human(n)
  if n < 1000 then return (math.type(n) == "integer" or n == math.floor(n)) and string.format("%d", n)
                                                                          or string.format("%.1f", n) end
  for _, u in ipairs { "K", "M", "G", "T" } do
    n = n / 1024
    if n < 1000 then return string.format(n < 10 and "%.1f%s" or "%.0f%s", n, u) end
  end
  return string.format("%.0fP", n / 1024)
end
-- Fits text in w columns: cut in the middle, so an address keeps its tail (the port).
local function fit(s, w)
  if #s <= w then return s end
  if w < 4 then return s:sub(1, w) end
  local tail = (w - 2) // 2
  return s:sub(1, w - 2 - tail) .. ".." .. s:sub(-tail)
end
local function pad(s, w) return s .. string.rep(" ", math.max(0, w - #s)) end
local function rpad(s, w) return string.rep(" ", math.max(0, w - #s)) .. s end

local function num(x) return string.format("%.1f", x) end
local COLUMNS = {
  { title = "CONNS", w = 8, fmt = function(r) return tostring(r.conns) end },
  { title = "NEW/s", w = 9, fmt = function(r) return num(r.new) end },
  { title = "BYTES/s", w = 10, acct = true, fmt = function(r) return human(r.rbytes) end },
  { title = "PKTS/s", w = 8, acct = true, fmt = function(r) return num(r.rpkts) end },
  { title = "BYTES", w = 9, acct = true, fmt = function(r) return human(r.bytes) end },
  { title = "PKTS", w = 8, acct = true, fmt = function(r) return human(r.pkts) end },
}

local function sorted()
  local list = {}
  for _, r in pairs(stats[view]) do list[#list + 1] = r end
  local f = ({ conns = "conns", new = "new", bytes = "rbytes", total = "bytes" })[sort]
  table.sort(list, function(a, b)
    if f and a[f] ~= b[f] then
      if reverse then return a[f] < b[f] end
      return a[f] > b[f]
    end
    if a.new ~= b.new then return a.new > b.new end
    if reverse and not f then return a.key > b.key end
    return a.key < b.key
  end)
  return list
end

local function frame(w, h)
  local out = {}
  local function line(s, code) out[#out + 1] = paint(fit(s, w), code) end
  local size = ct.count()
  local left = string.format("ctlua top  events/s: new %.1f  update %.1f  destroy %.1f  expect %.1f   table %s",
    rate.new, rate.update, rate.destroy, rate.expect, size and tostring(size) or "?")
  local right = (paused and "PAUSED  " or "") .. os.date("%H:%M:%S")
  if #left > w then left = left:gsub("events/s: ", ""):gsub("update", "upd"):gsub("destroy", "del"):gsub("expect", "exp") end
  line(#left + #right + 2 <= w and pad(left, w - #right) .. right or left, "1")
  -- the table by state, biggest first, coloured per state
  local names = {}
  for name in pairs(states) do names[#names + 1] = name end
  table.sort(names, function(a, b) if states[a] ~= states[b] then return states[a] > states[b] end return a < b end)
  local info = dump_err and ("dump failed: " .. dump_err) or opt.no_dump and "no dump: event rates only"
    or string.format("acct %s, dump %s ms", acct and "on" or "off", dump_ms and string.format("%.0f", dump_ms) or "-")
  info = fit(info, math.max(0, w - 16))
  local parts, used = {}, 0          -- used: columns the cells take, separators included
  for _, name in ipairs(names) do
    local cell = name .. " " .. states[name]
    local need = used + (used > 0 and 2 or 0) + #cell
    if need + 1 + #info > w then break end
    parts[#parts + 1] = paint(cell, STATE_COLOR[name]); used = need
  end
  if #parts == 0 then
    local s = fit(#names == 0 and "(table empty)" or names[1] .. " " .. states[names[1]], math.max(0, w - #info - 1))
    parts[1], used = s, #s
  end
  out[#out + 1] = table.concat(parts, "  ") .. string.rep(" ", math.max(1, w - used - #info)) .. paint(info, "2")
  if help then
    for _, s in ipairs {
      "", "keys:", "  q, ^C   quit", "  v, tab  next view: src, dst, service (proto/port), flow",
      "  c n b t k  sort by connections, new/s, bytes/s, total bytes, key", "  r       reverse the order",
      "  p       pause the display (counting goes on)", "  h, ?    this help (any key closes it)", "",
      string.format("rates: exponentially weighted, time constant %gs; refresh every %gs", opt.decay, opt.interval),
      "live numbers (CONNS, BYTES, states) from a table dump, spaced out when it takes long",
      "bytes and packets need accounting: sysctl net.netfilter.nf_conntrack_acct=1" } do
      line(s)
    end
    return out
  end
  -- the list: the key column takes what the numbers leave
  -- the list: the key column takes what the numbers leave; on a narrow terminal
  -- the packet columns go first, then the byte total, so a key keeps 24 columns
  local shown = {}
  for _, c in ipairs(COLUMNS) do if acct or not c.acct then shown[#shown + 1] = c end end
  local function numw() local n = 0 for _, c in ipairs(shown) do n = n + c.w end return n end
  for _, drop in ipairs { "PKTS", "PKTS/s", "BYTES" } do
    if w - numw() >= 24 then break end
    for i, c in ipairs(shown) do if c.title == drop then table.remove(shown, i) break end end
  end
  local kw = math.max(12, w - numw())
  local head = { pad(TITLE[view], kw) }
  for _, c in ipairs(shown) do head[#head + 1] = rpad(c.title, c.w) end
  line(pad(table.concat(head), w), "7")   -- reverse video: the column titles
  local list = sorted()
  local n = (h and h - #out - 1) or opt.top
  for i = 1, math.min(n, #list) do
    local r = list[i]
    local cells = { pad(fit(r.key, kw - 1), kw) }
    for _, c in ipairs(shown) do cells[#cells + 1] = rpad(c.fmt(r), c.w) end
    line(table.concat(cells))
  end
  if h then
    for _ = #out + 1, h - 1 do out[#out + 1] = "" end
    local sk = {}
    for _, k in ipairs { "c", "n", "b", "t", "k" } do
      sk[#sk + 1] = SORTS[k] == sort and ("[" .. k .. "]" .. SORTS[k]) or k
    end
    line(string.format("q quit  v view: %s  sort: %s  r reverse  p pause  h help", view, table.concat(sk, " ")), "2")
  end
  return out
end

local function draw()
  if screen then
    local w, h = ct.term_size()
    cols, rows = w or cols, h or rows
    local out = frame(cols, rows)
    -- home, each line then clear to its end: no flicker of a full clear
    io.stdout:write(ESC .. "H", table.concat(out, ESC .. "K\r\n", 1, math.min(#out, rows)), ESC .. "K", ESC .. "J")
  else
    io.stdout:write(table.concat(frame(120, nil), "\n"), "\n\n")
  end
  io.stdout:flush()
end

-- The loop -----------------------------------------------------------------------
local last, refreshes = ct.now(), 0
ct.every(opt.interval, function()
  local t = ct.now()
  dump(t)
  advance(math.max(t - last, 1e-3))
  last = t
  refreshes = refreshes + 1
  if not paused then draw() end
  if opt.count and refreshes >= opt.count then ct.stop() end
end)

if screen then
  -- alternate screen, no cursor; both restored at stop
  io.stdout:write(ESC .. "?1049h", ESC .. "?25l", ESC .. "H", ESC .. "2J")
  io.stdout:flush()
  ct.on("stop", function() io.stdout:write(ESC .. "?25h", ESC .. "?1049l") io.stdout:flush() end)
  local function key(k)
    if help then help = false
    elseif k == "q" or k == "Q" or k == "\3" or k == "\4" then stopped = true ct.stop() return false
    elseif k == "v" or k == "\t" then
      for i, v in ipairs(VIEWS) do if v == view then view = VIEWS[i % #VIEWS + 1] break end end
    elseif SORTS[k] then
      sort = SORTS[k]
    elseif k == "r" then reverse = not reverse
    elseif k == "p" then paused = not paused
    elseif k == "h" or k == "?" then help = true
    else return false end
    return true
  end
  ct.keys(function(text)
    if text == nil then return ct.stop() end    -- the terminal went away
    -- one read may hold several keys; escape sequences (arrows...) are skipped
    local redraw = false
    for k in text:gsub("\27%[?[%d;]*.", ""):gmatch(".") do
      if stopped then return end
      redraw = key(k) or redraw
    end
    if redraw then draw() end
  end, function() draw() end)
end
