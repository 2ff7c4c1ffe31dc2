-- ctlua.metrics — counters, gauges and histograms, rendered in the Prometheus text
-- exposition format (version 0.0.4) for GET /metrics (src/metrics.c serves it).
--
-- Each metric keeps one series per distinct set of label values, up to max_series
-- (default 1000): a label fed with unbounded values (source ports, addresses)
-- cannot eat the memory; refused series are counted and exported as
-- ctlua_metrics_series_refused_total{metric=...}.

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
      error(format("bad argument #1 to '%s' (metric '%s' has no labels)", fname, m.name), 4)
    end
    local s = m.series[""]
    if not s then s = m.new(); s.values = {}; m.series[""] = s; m.order[1] = "" end
    return s
  end
  if type(labels) ~= "table" then
    error(format("bad argument #1 to '%s' (table of labels expected, got %s)", fname, type(labels)), 4)
  end
  local values = {}
  for i = 1, #names do
    local v = labels[names[i]]
    if v == nil then v = labels[i] end
    if v == nil then
      error(format("bad argument #1 to '%s' (label '%s' missing)", fname, names[i]), 4)
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
    error(format("bad argument #%d to '%s' (number expected, got %s)", argn, fname, type(v)), 4)
  end
  if nonneg and v < 0 then
    error(format("bad argument #%d to '%s' (a counter only goes up)", argn, fname), 4)
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

M.escape_label = escape_label
M.header = header
M.histogram_lines = histogram_lines

local Registry = {}
Registry.__index = Registry

function M.new(reserved)
  return setmetatable({ metrics = {}, order = {}, reserved = reserved or "^ctlua_" }, Registry)
end

local DEFAULT_BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

-- registry:define(kind, fname, name, help, labelnames, buckets, opts) -> metric
function Registry:define(kind, fname, name, help, labelnames, buckets, opts)
  if type(name) ~= "string" or not name:match(NAME) then
    error(format("bad argument #1 to '%s' (metric name [a-zA-Z_:][a-zA-Z0-9_:]* expected)", fname), 3)
  end
  if name:match(self.reserved) then
    error(format("bad argument #1 to '%s' (names starting with ctlua_ are ctlua's own)", fname), 3)
  end
  if type(help) ~= "string" then
    error(format("bad argument #2 to '%s' (help text expected, got %s)", fname, type(help)), 3)
  end
  labelnames = labelnames or {}
  if type(labelnames) ~= "table" then
    error(format("bad argument #3 to '%s' (list of label names expected)", fname), 3)
  end
  local names = {}
  for i, l in ipairs(labelnames) do
    if type(l) ~= "string" or not l:match(LABEL) or l:match("^__") or (kind == "histogram" and l == "le") then
      error(format("bad argument #3 to '%s' (bad label name %s)", fname, tostring(l)), 3)
    end
    names[i] = l
  end
  if kind == "histogram" then
    buckets = buckets or DEFAULT_BUCKETS
    if type(buckets) ~= "table" or #buckets == 0 then
      error(format("bad argument #4 to '%s' (list of bucket bounds expected)", fname), 3)
    end
    local b = {}
    for i, v in ipairs(buckets) do
      if type(v) ~= "number" or (i > 1 and v <= b[i - 1]) then
        error(format("bad argument #4 to '%s' (bucket bounds must be increasing numbers)", fname), 3)
      end
      b[i] = v
    end
    buckets = b
  end
  opts = opts or {}
  local max = opts.max_series or 1000
  if math.type(max) ~= "integer" or max < 1 then
    error(format("bad argument to '%s' (max_series must be a positive integer)", fname), 3)
  end
  local old = self.metrics[name]
  if old then
    if old.kind ~= kind or concat(old.labelnames, ",") ~= concat(names, ",") then
      error(format("bad argument #1 to '%s' (metric '%s' exists as another %s)", fname, name, old.kind), 3)
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

-- registry:render(builtin) -> text: ctlua's own families (builtin(out, num)
-- appends lines), then every user metric, then the refused-series counter.
function Registry:render(builtin)
  local out = {}
  if builtin then builtin(out, num) end
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

return M
