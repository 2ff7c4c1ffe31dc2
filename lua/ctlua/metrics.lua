-- ctlua.metrics — counters, gauges and histograms, rendered in the Prometheus text
-- exposition format (version 0.0.4) for GET /metrics (src/metrics.c serves it).
--
-- Each metric keeps one series per distinct set of label values, up to max_series
-- (default 1000): a label fed with unbounded values (source ports, addresses)
-- cannot eat the memory; refused series are counted and exported as
-- ctlua_metrics_series_refused_total{metric=...}.
--
-- Holds the scripts' registry (ct.metrics.counter/gauge/histogram) and the whole
-- /metrics page: ctlua's own families, read from ct.stats() (M.builtin), then the
-- scripts' metrics (M.render, the core's metrics hook).
-- M.init(env): env.ct (ct.stats, ct.count, ct.max, ct.cpu_stats, ct.expect.cpu_stats).

local handlers = require "ctlua.handlers"
local err = require "ctlua.err"

local M = {}

local format, concat, type, tostring = string.format, table.concat, type, tostring
local NAME = "^[a-zA-Z_:][a-zA-Z0-9_:]*$"
local LABEL = "^[a-zA-Z_][a-zA-Z0-9_]*$"

local function num(v)
  if v == math.huge then return "+Inf" end
  if v == -math.huge then return "-Inf" end
  if v ~= v then return "NaN" end
  if math.type(v) == "integer" then return format("%d", v) end
  if v == math.floor(v) and math.abs(v) < 2^53 then return format("%d", math.tointeger(v)) end
  local s = format("%.15g", v)            -- the shortest text that reads back the same
  if tonumber(s) ~= v then s = format("%.17g", v) end
  return s
end

local function escape_label(s)
  return (s:gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function escape_help(s)
  return (s:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

-- {k="v",...} text of a series, with extra pairs appended (histogram le).
local function labeltext(names, values, extra_k, extra_v)
  local parts = {}
  for i = 1, #names do parts[i] = names[i] .. '="' .. escape_label(values[i]) .. '"' end
  if extra_k then parts[#parts + 1] = extra_k .. '="' .. extra_v .. '"' end
  if #parts == 0 then return "" end
  return "{" .. concat(parts, ",") .. "}"
end

local Metric = {}
Metric.__index = Metric

-- The series for labels (a table by label name, or an array in labelnames order);
-- nil when the cap refuses a new one. `fname` names the method in errors, which
-- point at the method's caller (method -> target -> here: level 4).
local function series(m, labels, fname)
  local names = m.labelnames
  if #names == 0 then
    if labels ~= nil and (type(labels) ~= "table" or next(labels) ~= nil) then
      err.argerror(4, 1, fname, "metric '%s' has no labels", m.name)
    end
    local s = m.series[""]
    if not s then s = m.new(); s.values = {}; m.series[""] = s; m.order[1] = "" end
    return s
  end
  if type(labels) ~= "table" then
    err.argerror(4, 1, fname, "table of labels expected, got %s", type(labels))
  end
  local values = {}
  for i = 1, #names do
    local v = labels[names[i]]
    if v == nil then v = labels[i] end
    if v == nil then
      err.argerror(4, 1, fname, "label '%s' missing", names[i])
    end
    values[i] = tostring(v)
  end
  local key = concat(values, "\0")
  local s = m.series[key]
  if s then return s end
  if m.count >= m.max_series then
    m.refused = m.refused + 1
    return nil
  end
  s = m.new()
  s.values = values
  m.series[key] = s
  m.count = m.count + 1
  m.order[#m.order + 1] = key
  return s
end

local function checknum(v, fname, argn, nonneg)
  if type(v) ~= "number" then
    err.argerror(4, argn, fname, "number expected, got %s", type(v))
  end
  if nonneg and v < 0 then
    err.argerror(4, argn, fname, "a counter only goes up")
  end
end

-- What every method starts with: the series it acts on and its number. A metric
-- without labels may be given the number alone ((n) for (labels, n)); n defaults
-- to `default`. Raises (naming the method's caller) on a bad number or labels.
local function target(self, fname, labels, v, default, nonneg)
  if v == nil and type(labels) == "number" and #self.labelnames == 0 then labels, v = nil, labels end
  if v == nil then v = default end
  checknum(v, fname, 2, nonneg)
  return series(self, labels, fname), v
end

-- counter:inc([labels,] [n]) / gauge:inc([labels,] [n]): n defaults to 1.
function Metric:inc(labels, n)
  local s
  s, n = target(self, "inc", labels, n, 1, self.kind == "counter")
  if s then s.v = s.v + n end
end

-- gauge:dec([labels,] [n])
function Metric:dec(labels, n)
  if self.kind ~= "gauge" then error("bad self to 'dec' (only gauges go down)", 2) end
  local s
  s, n = target(self, "dec", labels, n, 1)
  if s then s.v = s.v - n end
end

-- gauge:set([labels,] v)
function Metric:set(labels, v)
  if self.kind ~= "gauge" then error("bad self to 'set' (only gauges are set)", 2) end
  local s
  s, v = target(self, "set", labels, v)
  if s then s.v = v end
end

-- histogram:observe([labels,] v)
function Metric:observe(labels, v)
  if self.kind ~= "histogram" then error("bad self to 'observe' (only histograms observe)", 2) end
  local s
  s, v = target(self, "observe", labels, v)
  if not s then return end
  local b = self.buckets
  local i = 1
  while i <= #b and v > b[i] do i = i + 1 end
  s.counts[i] = s.counts[i] + 1
  s.sum = s.sum + v
end

-- metric:refused() -> how many new series the cap turned away
function Metric:refused_series() return self.refused end

-- The HELP and TYPE lines of a family.
local function header(out, name, kind, help)
  out[#out + 1] = format("# HELP %s %s", name, escape_help(help))
  out[#out + 1] = format("# TYPE %s %s", name, kind)
end

-- The lines of one histogram series: cumulative buckets, +Inf, sum and count
-- (the count is the +Inf bucket). names/values: its labels (may be empty).
local function histogram_lines(out, name, names, values, buckets, counts, sum)
  local cum = 0
  for i, le in ipairs(buckets) do
    cum = cum + counts[i]
    out[#out + 1] = name .. "_bucket" .. labeltext(names, values, "le", num(le)) .. " " .. num(cum)
  end
  cum = cum + counts[#buckets + 1]
  out[#out + 1] = name .. "_bucket" .. labeltext(names, values, "le", "+Inf") .. " " .. num(cum)
  out[#out + 1] = name .. "_sum" .. labeltext(names, values) .. " " .. num(sum)
  out[#out + 1] = name .. "_count" .. labeltext(names, values) .. " " .. num(cum)
end

local function render_metric(out, m)
  header(out, m.name, m.kind, m.help)
  for _, key in ipairs(m.order) do
    local s = m.series[key]
    if m.kind == "histogram" then
      histogram_lines(out, m.name, m.labelnames, s.values, m.buckets, s.counts, s.sum)
    else
      out[#out + 1] = m.name .. labeltext(m.labelnames, s.values) .. " " .. num(s.v)
    end
  end
end

local Registry = {}
Registry.__index = Registry

local function new_registry(reserved)
  return setmetatable({ metrics = {}, order = {}, reserved = reserved or "^ctlua_" }, Registry)
end

local DEFAULT_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

-- registry:define(kind, fname, name, help, labelnames, buckets, opts) -> metric
function Registry:define(kind, fname, name, help, labelnames, buckets, opts)
  if type(name) ~= "string" or not name:match(NAME) then
    err.argerror(3, 1, fname, "metric name [a-zA-Z_:][a-zA-Z0-9_:]* expected")
  end
  if name:match(self.reserved) then
    err.argerror(3, 1, fname, "names starting with ctlua_ are ctlua's own")
  end
  if type(help) ~= "string" then
    err.argerror(3, 2, fname, "help text expected, got %s", type(help))
  end
  labelnames = labelnames or {}
  if type(labelnames) ~= "table" then
    err.argerror(3, 3, fname, "list of label names expected")
  end
  local names = {}
  for i, l in ipairs(labelnames) do
    if type(l) ~= "string" or not l:match(LABEL) or l:match("^__") or (kind == "histogram" and l == "le") then
      err.argerror(3, 3, fname, "bad label name %s", tostring(l))
    end
    names[i] = l
  end
  if kind == "histogram" then
    buckets = buckets or DEFAULT_BUCKETS
    if type(buckets) ~= "table" or #buckets == 0 then
      err.argerror(3, 4, fname, "list of bucket bounds expected")
    end
    local b = {}
    for i, v in ipairs(buckets) do
      if type(v) ~= "number" or (i > 1 and v <= b[i - 1]) then
        err.argerror(3, 4, fname, "bucket bounds must be increasing numbers")
      end
      b[i] = v
    end
    buckets = b
  end
  opts = opts or {}
  local max = opts.max_series or 1000
  if math.type(max) ~= "integer" or max < 1 then
    err.argerror(3, nil, fname, "max_series must be a positive integer")
  end
  local old = self.metrics[name]
  if old then
    if old.kind ~= kind or concat(old.labelnames, ",") ~= concat(names, ",") then
      err.argerror(3, 1, fname, "metric '%s' exists as another %s", name, old.kind)
    end
    return old
  end
  local nb = buckets and #buckets or 0
  local m = setmetatable({ kind = kind, name = name, help = help, labelnames = names, buckets = buckets,
                           series = {}, order = {}, count = 0, refused = 0, max_series = max }, Metric)
  if kind == "histogram" then
    m.new = function()
      local c = {}
      for i = 1, nb + 1 do c[i] = 0 end
      return { counts = c, sum = 0 }
    end
  else
    m.new = function() return { v = 0 } end
  end
  self.metrics[name] = m
  self.order[#self.order + 1] = m
  return m
end

-- registry:render(builtin) -> text: ctlua's own families (builtin(out)
-- appends lines), then every user metric, then the refused-series counter.
function Registry:render(builtin)
  local out = {}
  if builtin then builtin(out) end
  for _, m in ipairs(self.order) do render_metric(out, m) end
  out[#out + 1] = "# HELP ctlua_metrics_series_refused_total New label sets refused by a metric's max_series cap."
  out[#out + 1] = "# TYPE ctlua_metrics_series_refused_total counter"
  for _, m in ipairs(self.order) do
    if m.refused > 0 then
      out[#out + 1] = format('ctlua_metrics_series_refused_total{metric="%s"} %d', m.name, m.refused)
    end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

-- The runtime's side --------------------------------------------------------------

local ct
local registry        -- the scripts' metrics

--- M.init(env): env.ct; a fresh registry
function M.init(env)
  ct = env.ct
  registry = new_registry()
end

--- ct.metrics.counter(name, help [, labelnames] [, opts]) -> counter (:inc([labels,] [n]))
function M.counter(name, help, labelnames, opts)
  return registry:define("counter", "counter", name, help, labelnames, nil, opts)
end
--- ct.metrics.gauge(name, help [, labelnames] [, opts]) -> gauge (:set, :inc, :dec)
function M.gauge(name, help, labelnames, opts)
  return registry:define("gauge", "gauge", name, help, labelnames, nil, opts)
end
--- ct.metrics.histogram(name, help [, labelnames] [, buckets] [, opts]) -> histogram (:observe)
function M.histogram(name, help, labelnames, buckets, opts)
  return registry:define("histogram", "histogram", name, help, labelnames, buckets, opts)
end

-- Keys of t, sorted: stable series order between scrapes.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local SINK_FAMILIES = {   -- name, type, help, field of sink:stats()
  { "ctlua_sink_lines_total", "counter", "Lines accepted by a sink, by sink.", "lines" },
  { "ctlua_sink_dropped_total", "counter", "Lines a sink dropped (queue full, peer gone), by sink.", "dropped" },
  { "ctlua_sink_reconnects_total", "counter", "Reconnections of a stream sink, by sink.", "reconnects" },
  { "ctlua_sink_connected", "gauge", "1 when a sink can write now, by sink.", "connected" },
  { "ctlua_sink_queued_bytes", "gauge", "Bytes waiting in a sink's queue, by sink.", "queued" },
}

-- The kernel's per-CPU table counters (ct.cpu_stats, ct.expect.cpu_stats: the
-- columns of `conntrack -S` and `conntrack -S exp`), summed over the CPUs: each
-- ctlua_conntrack_<name>_total. Families for counters this kernel does not send
-- are left out.
local CPU_HELP = {
  found = "Lookups that found an existing entry (conntrack -S found).",
  invalid = "Packets conntrack could not track, e.g. malformed or out of window (conntrack -S invalid).",
  insert = "Entries inserted into the table (conntrack -S insert).",
  insert_failed = "Entries that could not be inserted: a clash, as with parallel DNS queries (conntrack -S insert_failed).",
  drop = "Packets dropped because the table was full or an entry could not be made (conntrack -S drop).",
  early_drop = "Entries evicted to make room in a full table (conntrack -S early_drop).",
  error = "ICMP errors that matched no entry, and other tracking errors (conntrack -S error).",
  search_restart = "Table lookups restarted because of a concurrent resize (conntrack -S search_restart).",
  clash_resolve = "Insert clashes resolved by reusing the other entry (conntrack -S clash_resolve).",
  chaintoolong = "Inserts refused because a hash chain was too long (conntrack -S chaintoolong).",
  searched = "Table lookups (conntrack -S searched; older kernels).",
  new = "Entries created (conntrack -S new; older kernels).",
  ignore = "Packets already tracked or not to be tracked (conntrack -S ignore; older kernels).",
  delete = "Entries deleted (conntrack -S delete; older kernels).",
  delete_list = "Entries deleted from the dying list (conntrack -S delete_list; older kernels).",
  expect_new = "Expectations that became connections (conntrack -S exp expect_new).",
  expect_create = "Expectations created (conntrack -S exp expect_create).",
  expect_delete = "Expectations deleted (conntrack -S exp expect_delete).",
}
local CPU_ORDER = { "found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error",
                    "search_restart", "clash_resolve", "chaintoolong", "searched", "new", "ignore",
                    "delete", "delete_list", "expect_new", "expect_create", "expect_delete" }

-- Sums of each counter over the CPUs of one read, into sums[name].
local function sum_cpus(rows, sums)
  for _, row in ipairs(rows) do
    for k, v in pairs(row) do
      if k ~= "cpu" then sums[k] = (sums[k] or 0) + v end
    end
  end
end

-- ctlua_conntrack_max and the summed per-CPU counters, per namespace (nss: the
-- names watched with --netns; nil: ctlua's own). One stats read each per scrape.
local function table_health(out, nss)
  local esc = escape_label
  local per, max = {}, {}
  for i, ns in ipairs(nss or { false }) do
    local sums = {}
    local ok, rows = pcall(ct.cpu_stats, ns or nil)
    if ok and rows then sum_cpus(rows, sums) end
    local ok2, erows = pcall(ct.expect.cpu_stats, ns or nil)
    if ok2 and erows then sum_cpus(erows, sums) end
    local ok3, m = pcall(ct.max, ns or nil)
    per[i], max[i] = sums, ok3 and m or nil
  end
  local function label(i) return nss and string.format('{netns="%s"}', esc(nss[i])) or "" end
  header(out, "ctlua_conntrack_max", "gauge", "Maximum entries of the conntrack table (nf_conntrack_max)" ..
         (nss and ", by network namespace." or "."))
  for i in ipairs(nss or { false }) do
    if max[i] then out[#out + 1] = "ctlua_conntrack_max" .. label(i) .. " " .. num(max[i]) end
  end
  for _, name in ipairs(CPU_ORDER) do
    local seen = false
    for i in ipairs(per) do seen = seen or per[i][name] ~= nil end
    if seen then
      local fam = "ctlua_conntrack_" .. name .. "_total"
      header(out, fam, "counter", CPU_HELP[name] .. " Summed over CPUs" ..
             (nss and ", by network namespace." or "."))
      for i in ipairs(per) do
        if per[i][name] then out[#out + 1] = fam .. label(i) .. " " .. num(per[i][name]) end
      end
    end
  end
end

--- M.builtin(out): appends ctlua's own families, from ct.stats(), to the lines in out
function M.builtin(out)
  local s = ct.stats()
  local esc = escape_label
  local function family(name, kind, help) header(out, name, kind, help) end
  local function one(name, kind, help, v)
    family(name, kind, help)
    out[#out + 1] = name .. " " .. num(v)
  end
  local kernel_events = handlers.KERNEL_NAMES
  family("ctlua_events_total", "counter", "Events received from the kernel, by event name (and network namespace with --netns).")
  if s.netns then
    for _, ns in ipairs(sorted_keys(s.netns)) do
      for _, e in ipairs(kernel_events) do
        out[#out + 1] = string.format('ctlua_events_total{event="%s",netns="%s"} %s', e, esc(ns), num(s.netns[ns][e] or 0))
      end
    end
  else
    for _, e in ipairs(kernel_events) do
      out[#out + 1] = string.format('ctlua_events_total{event="%s"} %s', e, num(s.events[e] or 0))
    end
  end
  family("ctlua_handler_errors_total", "counter", "Handler calls that raised an error, by event name.")
  for _, e in ipairs(handlers.NAMES) do
    out[#out + 1] = string.format('ctlua_handler_errors_total{event="%s"} %s', e, num(s.errors[e] or 0))
  end
  one("ctlua_handler_timeouts_total", "counter", "Handler or timer calls interrupted by --handler-timeout.", s.timeouts)
  one("ctlua_overruns_total", "counter", "Event socket overruns (events the kernel dropped).", s.overruns)
  one("ctlua_resyncs_total", "counter", "Resyncs run (table dumps diffed against the live set).", s.resync.runs)
  family("ctlua_resync_events_total", "counter", "Synthetic events delivered by resyncs, by event name.")
  out[#out + 1] = 'ctlua_resync_events_total{event="new"} ' .. num(s.resync.new)
  out[#out + 1] = 'ctlua_resync_events_total{event="destroy"} ' .. num(s.resync.destroy)
  one("ctlua_parse_errors_total", "counter", "Kernel messages that could not be parsed.", s.parse_errors)
  one("ctlua_commands_total", "counter", "Requests sent on the command socket.", s.commands)
  one("ctlua_command_errors_total", "counter", "Requests the kernel refused (other than ENOENT and EEXIST).", s.command_errors)
  one("ctlua_reloads_total", "counter", "SIGHUP reloads that swapped in new scripts.", s.reloads)
  one("ctlua_metrics_refused_connections_total", "counter", "/metrics connections refused over the limit.", s.metrics_refused)
  one("ctlua_receive_buffer_bytes", "gauge", "Receive buffer of the event socket.", s.rcvbuf)
  one("ctlua_lua_memory_bytes", "gauge", "Memory held by the Lua state.", s.memory)
  if s.netns then
    -- One count request per namespace watched (the /proc file is only ours).
    family("ctlua_conntrack_entries", "gauge", "Entries in the conntrack table, by network namespace.")
    for _, ns in ipairs(sorted_keys(s.netns)) do
      local ok, n = pcall(ct.count, ns)
      if ok and n then out[#out + 1] = string.format('ctlua_conntrack_entries{netns="%s"} %s', esc(ns), num(n)) end
    end
  else
    local f = io.open("/proc/sys/net/netfilter/nf_conntrack_count")
    local count = f and tonumber(f:read("l"))
    if f then f:close() end
    if count then one("ctlua_conntrack_entries", "gauge", "Entries in the conntrack table.", count) end
  end
  table_health(out, s.netns and sorted_keys(s.netns) or nil)
  local sinks = sorted_keys(s.sinks)
  for _, fam in ipairs(SINK_FAMILIES) do
    family(fam[1], fam[2], fam[3])
    for _, name in ipairs(sinks) do
      local v = s.sinks[name][fam[4]]
      if type(v) == "boolean" then v = v and 1 or 0 end
      out[#out + 1] = string.format('%s{sink="%s"} %s', fam[1], esc(name), num(v))
    end
  end
  local h = s.handler_time
  if h then
    family("ctlua_handler_seconds", "histogram", "Time to deliver one event to all its handlers.")
    histogram_lines(out, "ctlua_handler_seconds", {}, {}, h.le, h.counts, h.sum)
  end
end

--- M.render() -> the text of GET /metrics
function M.render()
  return registry:render(M.builtin)
end

return M
