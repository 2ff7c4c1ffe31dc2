-- bench/report.lua SAMPLES RESULTS_JSON — turns bench/run.sh's samples (one line per
-- receiver run) into Markdown tables of medians, the lossless rates, the memory runs
-- and the targets (measured ratio against its limit), and writes the same as JSON.
-- The settings come from run.sh in the environment.
local samples_path, json_path = arg[1], arg[2]
local env = os.getenv

local LABEL = {
  conntrack = "conntrack -E",
  floor = "floor",
  ["ctlua-count"] = "ctlua (a) count",
  ["ctlua-aggregate"] = "ctlua (b) filter + aggregate",
  ["ctlua-json-null"] = "ctlua (c) JSON handler to /dev/null",
  ["ctlua-1pct-lua"] = "ctlua (d) 1 % filter, Lua only (`--no-kernel-filter`)",
  ["ctlua-1pct-kernel"] = "ctlua (d) 1 % filter, kernel filter",
  ["conntrack-log"] = "`conntrack -E > file`",
  ["ctlua-log"] = "`ctlua > file` (default log)",
  ["ctlua-json"] = "`ctlua -- --json > file`",
}
local FIELDS = { "part", "row", "count", "rate", "generated", "delivered", "lost", "overruns",
  "user_us", "sys_us", "rss_kib", "gen_seconds" }

local main, search, mem, order = {}, {}, {}, {}
for line in io.lines(samples_path) do
  local s, i = {}, 0
  for w in line:gmatch("%S+") do
    i = i + 1
    s[FIELDS[i]] = tonumber(w) or w
  end
  s.cpu_us = s.user_us + s.sys_us
  local into = s.part == "main" and main or s.part == "search" and search or mem
  if not into[s.row] then
    into[s.row] = {}
    if s.part == "main" then order[#order + 1] = s.row end
  end
  table.insert(into[s.row], s)
end

local function median(list, f)
  local v = {}
  for _, s in ipairs(list) do v[#v + 1] = f(s) end
  table.sort(v)
  local n = #v
  if n == 0 then return nil end
  return n % 2 == 1 and v[(n + 1) // 2] or (v[n // 2] + v[n // 2 + 1]) / 2
end
local function ratio(a, b) return a and b and b > 0 and a / b or nil end
local function int(n)   -- 586693 -> "586 693", as the README prints them
  local s = string.format("%d", math.floor(n + 0.5))
  local neg, d = s:match("^(-?)(%d+)$")
  return neg .. d:reverse():gsub("(%d%d%d)", "%1 "):reverse():gsub("^ ", "")
end
local function fmt(x, p) return x and string.format("%." .. (p or 2) .. "f", x) or "-" end

-- Medians per row; CPU per generated event (the stream's cost, comparable for every
-- row) and per delivered event or line written (the log targets: "per line").
local rows = {}
for _, r in ipairs(order) do
  local l = main[r]
  local m = {
    run = r, runs = #l,
    generated = median(l, function(s) return s.generated end),
    delivered = median(l, function(s) return s.delivered end),
    lost = median(l, function(s) return s.lost end),
    overruns = median(l, function(s) return s.overruns end),
    peak_rss_kib = median(l, function(s) return s.rss_kib end),
    cpu_us_per_event = median(l, function(s) return s.cpu_us / s.generated end),
    gen_seconds = median(l, function(s) return s.gen_seconds end),
    lossless_runs = 0,
    samples = l,
  }
  if not r:match("^ctlua%-1pct") then
    m.cpu_us_per_line = median(l, function(s) return s.delivered > 0 and s.cpu_us / s.delivered or math.huge end)
  end
  for _, s in ipairs(l) do
    if s.lost == 0 then m.lossless_runs = m.lossless_runs + 1 end
  end
  rows[#rows + 1], rows[r] = m, m
end
local function cpu(r, per) return rows[r] and rows[r][per] end
for _, m in ipairs(rows) do
  m.x_conntrack = ratio(m.cpu_us_per_event, cpu("conntrack", "cpu_us_per_event"))
  m.x_floor = ratio(m.cpu_us_per_event, cpu("floor", "cpu_us_per_event"))
  m.x_conntrack_log = ratio(m.cpu_us_per_line, cpu("conntrack-log", "cpu_us_per_line"))
end

-- Lossless rate: the highest achieved rate (flows/s, as loadgen sent them) of a step
-- that lost nothing; 0 when none did.
local rates = {}
for r, l in pairs(search) do
  local best, steps = 0, {}
  for _, s in ipairs(l) do
    -- a step whose load generator failed has no time: it proves nothing
    local achieved = s.gen_seconds and s.count / math.max(s.gen_seconds, 1e-3) or 0
    local ok = s.gen_seconds ~= nil and s.lost == 0 and s.overruns == 0
    steps[#steps + 1] = { rate = s.rate, achieved = achieved, generated = s.generated,
      delivered = s.delivered, lost = s.lost, overruns = s.overruns, lossless = ok }
    if ok and achieved > best then best = achieved end
  end
  rates[r] = { flows_per_s = best, steps = steps }
  if rows[r] then rows[r].lossless_flows_per_s = best end
end

local out = {}
local function p(...) out[#out + 1] = table.concat({ ... }) end
local bufmib = tonumber(env("BUF")) / 1048576
p(string.format("Load: %s datagrams (%s events) at %s; NEW+DESTROY each; medians of %s runs " ..
  "(%s for %s); %g MiB receive buffer for the floor and ctlua, conntrack %s.",
  int(tonumber(env("COUNT"))), int(2 * tonumber(env("COUNT"))),
  env("RATE") == "0" and "the generator's full speed" or env("RATE") .. " datagrams/s",
  env("RUNS"), math.max(tonumber(env("LOSS_RUNS")), tonumber(env("RUNS"))), env("LOSS_ROWS"), bufmib,
  env("CT_BUF") ~= "" and "-b " .. env("CT_BUF") or "with its default buffer"))
p("")
p("| run | delivered | lost | overruns | lossless runs | CPU µs/event | CPU µs/line | peak RSS KiB " ..
  "| × conntrack | × conntrack-log | × floor | lossless rate flows/s |")
p("|---|---|---|---|---|---|---|---|---|---|---|---|")
for _, m in ipairs(rows) do
  local del = int(m.delivered)
  if m.run:match("^ctlua%-1pct") then del = del .. " of " .. int(m.delivered + m.lost) end
  local lr = m.lossless_flows_per_s
  lr = lr and (lr > 0 and int(lr) or "< " .. int(tonumber(env("SEARCH_LO")))) or "-"
  p("| ", LABEL[m.run] or m.run, " | ", del, " | ", int(m.lost), " | ", int(m.overruns), " | ",
    m.lossless_runs, "/", m.runs, " | ", fmt(m.cpu_us_per_event), " | ", fmt(m.cpu_us_per_line), " | ",
    int(m.peak_rss_kib), " | ", fmt(m.x_conntrack), " | ", fmt(m.x_conntrack_log), " | ",
    fmt(m.x_floor), " | ", lr, " |")
end
p("")
p("CPU µs/event: user+sys per generated event; µs/line: per event delivered or line written. " ..
  "Lossless rate: geometric bisection over ", env("SEARCH_LO"), "-", env("SEARCH_HI"),
  " flows/s, ", env("SEARCH_STEPS"), " steps of ", env("SEARCH_SECONDS"), " s (one search).")

if next(rates) then
  p("")
  p("| lossless rate search | highest lossless flows/s | steps: achieved flows/s → events lost |")
  p("|---|---|---|")
  local names = {}
  for r in pairs(rates) do names[#names + 1] = r end
  table.sort(names)
  for _, r in ipairs(names) do
    local st = {}
    for _, x in ipairs(rates[r].steps) do st[#st + 1] = int(x.achieved) .. " → " .. int(x.lost) end
    local best = rates[r].flows_per_s
    p("| ", LABEL[r] or r, " | ", best > 0 and int(best) or "< " .. int(tonumber(env("SEARCH_LO"))), " | ",
      table.concat(st, ", "), " |")
  end
end

local memrows = {}
if next(mem) then
  p("")
  p("| memory run | events | delivered | lost | peak RSS KiB |")
  p("|---|---|---|---|---|")
  for r, l in pairs(mem) do
    for _, s in ipairs(l) do
      p("| ", LABEL[r] or r, " | ", int(2 * s.count), " | ", int(s.delivered), " | ", int(s.lost), " | ",
        int(s.rss_kib), " |")
      memrows[#memrows + 1] = { run = r, events = 2 * s.count, generated = s.generated,
        delivered = s.delivered, lost = s.lost, peak_rss_kib = s.rss_kib, rate = s.rate }
    end
  end
end

-- The targets, each a measured ratio or count against its limit.
local targets = {}
local function target(name, value, limit, ok, shown)
  local reached
  if value ~= nil then reached = ok(value) == true end
  targets[#targets + 1] = { name = name, value = value, limit = limit, reached = reached, shown = shown }
end
local function le(l) return function(v) return v <= l end end
target("default text log CPU per line ÷ conntrack -E's", rows["ctlua-log"] and rows["ctlua-log"].x_conntrack_log,
  "≤ 0.5", le(0.5))
target("JSON log CPU per line ÷ conntrack -E's", rows["ctlua-json"] and rows["ctlua-json"].x_conntrack_log,
  "≤ 0.7", le(0.7))
target("counting handler CPU per event ÷ floor", rows["ctlua-count"] and rows["ctlua-count"].x_floor,
  "≤ 1.5", le(1.5))
target("filter + aggregate handler CPU per event ÷ floor", rows["ctlua-aggregate"] and rows["ctlua-aggregate"].x_floor,
  "≤ 1.7", le(1.7))
for _, r in ipairs { "ctlua-log", "ctlua-json", "ctlua-count" } do
  local m = rows[r]
  target((LABEL[r] or r) .. ": runs without loss at full speed", m and m.lossless_runs,
    "5 of 5", function(v) return v == m.runs and m.runs >= 5 end,
    m and (m.lossless_runs .. " of " .. m.runs))
end
-- conntrack -E losing at every rate tried: its rate is below SEARCH_LO, so the ratio
-- is above ctlua's over SEARCH_LO (a bound, shown as such).
local lt, lc = rates["ctlua-log"], rates["conntrack-log"]
local lr, lshown
if lt and lc then
  if lc.flows_per_s > 0 then lr = lt.flows_per_s / lc.flows_per_s
  else
    lr = lt.flows_per_s / tonumber(env("SEARCH_LO"))
    lshown = "> " .. fmt(lr) .. " (conntrack -E lost at every rate tried)"
  end
end
target("lossless rate, text log ÷ conntrack -E's", lr, "≥ 2", function(v) return v >= 2 end, lshown)
local r1, r10
for _, m in ipairs(memrows) do
  if m.run == "ctlua-count" then
    if not r1 or m.events < r1.events then r1 = m end
    if not r10 or m.events > r10.events then r10 = m end
  end
end
target(r1 and string.format("peak RSS, counting handler, %s ÷ %s events", int(r10.events), int(r1.events))
  or "peak RSS, counting handler, 10M ÷ 1M events", r1 and r10 ~= r1 and ratio(r10.peak_rss_kib, r1.peak_rss_kib) or nil,
  "0.90-1.10", function(v) return v >= 0.9 and v <= 1.1 end)
p("")
p("| target | measured | limit | reached |")
p("|---|---|---|---|")
for _, t in ipairs(targets) do
  p("| ", t.name, " | ", t.shown or (t.value == math.huge and "∞" or fmt(t.value)), " | ", t.limit, " | ",
    t.reached == nil and "not measured" or t.reached and "yes" or "**no**", " |")
end
p("")
p(string.format("bench: %d s; results in bench/results.json", tonumber(env("BENCH_SECONDS"))))
print(table.concat(out, "\n"))

-- JSON: numbers, strings, booleans, arrays (a [1]) and objects; the samples as well.
local function enc(v)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge then return "null" end
    return math.type(v) == "integer" and tostring(v) or string.format("%.4f", v)
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "boolean" then return tostring(v)
  elseif t == "nil" then return "null" end
  local parts = {}
  if v[1] ~= nil or next(v) == nil then
    for _, x in ipairs(v) do parts[#parts + 1] = enc(x) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = enc(k) .. ":" .. enc(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local cfg = {}
for _, k in ipairs { "COUNT", "RATE", "RUNS", "LOSS_RUNS", "LOSS_ROWS", "SEARCH_LO", "SEARCH_HI",
  "SEARCH_STEPS", "SEARCH_SECONDS", "MEM_RATE", "BUF", "CT_BUF", "BENCH_SECONDS" } do
  cfg[k:lower()] = tonumber(env(k)) or env(k)
end
for _, t in ipairs(targets) do t.shown = nil end
local f = assert(io.open(json_path, "w"))
f:write(enc({ config = cfg, rows = rows, lossless_rate = rates, memory = memrows, targets = targets }), "\n")
f:close()
