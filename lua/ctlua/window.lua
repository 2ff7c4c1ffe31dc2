-- ctlua.window — bounded per-key state for rules: sliding-window counters and
-- rates, distinct counts, top-N, and a table whose entries expire.
--
-- Every structure takes its clock from ct.now(), so it runs on the recorded clock
-- during --replay, and every structure has a key cap: a rule watching hostile
-- traffic cannot grow memory without bound (refused keys are counted in .dropped).
-- M.init(env) gives the clock (env.now); the constructors are ct.counter,
-- ct.distinct, ct.top and ct.state as they are.

local M = {}

local now             -- the clock structures read (env.now)

--- M.init(env): env.now
function M.init(env) now = env.now end

local function opt_num(opts, name, default, min)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v < (min or 0) then
    error(string.format("bad option '%s' (number >= %s expected)", name, tostring(min or 0)), 3)
  end
  return v
end

-- Sliding-window counter ---------------------------------------------------------
-- The window is cut into `buckets` slots; a key's count is the sum of its slots
-- younger than the window.
local Counter = {}
Counter.__index = Counter

--- ct.counter{window = S, buckets = N, max_keys = K} -> counter
function M.counter(opts)
  opts = opts or {}
  local window = opt_num(opts, "window", 60, 1e-9)
  local buckets = math.tointeger(opt_num(opts, "buckets", 10, 1)) or 10
  return setmetatable({ window = window, nb = buckets, width = window / buckets,
    max_keys = opt_num(opts, "max_keys", 100000, 1), keys = {}, nkeys = 0, dropped = 0,
    now = now }, Counter)
end

local function slot_sum(self, k, t)
  local s = self.keys[k]
  if not s then return 0 end
  local cur = math.floor(t / self.width)
  local sum = 0
  for i = 1, self.nb do
    local stamp = s.stamp[i]
    if stamp and stamp > cur - self.nb then sum = sum + s.n[i] end
  end
  if sum == 0 then self.keys[k] = nil; self.nkeys = self.nkeys - 1 end
  return sum
end

--- counter:add(key [, n]) -> count of key within the window, after adding n (default 1)
function Counter:add(k, n)
  n = n or 1
  local t = self.now()
  local s = self.keys[k]
  if not s then
    if self.nkeys >= self.max_keys then self.dropped = self.dropped + 1 return 0 end
    s = { n = {}, stamp = {} }
    self.keys[k] = s
    self.nkeys = self.nkeys + 1
  end
  local cur = math.floor(t / self.width)
  local i = cur % self.nb + 1
  if s.stamp[i] ~= cur then s.stamp[i], s.n[i] = cur, 0 end
  s.n[i] = s.n[i] + n
  return slot_sum(self, k, t)
end

--- counter:count(key) -> count within the window
function Counter:count(k) return slot_sum(self, k, self.now()) end
--- counter:rate(key) -> count per second over the window
function Counter:rate(k) return slot_sum(self, k, self.now()) / self.window end
--- counter:size() -> keys held
function Counter:size() return self.nkeys end
--- counter:prune() -> drops keys whose window is empty (call from a timer)
function Counter:prune()
  local t = self.now()
  for k in pairs(self.keys) do slot_sum(self, k, t) end
end

-- Distinct count -----------------------------------------------------------------
local Distinct = {}
Distinct.__index = Distinct

--- ct.distinct{window = S, max_keys = K, max_values = V} -> distinct
-- distinct:add(key, value) -> number of different values seen for key in the window
function M.distinct(opts)
  opts = opts or {}
  return setmetatable({ window = opt_num(opts, "window", 60, 1e-9),
    max_keys = opt_num(opts, "max_keys", 100000, 1),
    max_values = opt_num(opts, "max_values", 10000, 1),
    keys = {}, nkeys = 0, dropped = 0, now = now }, Distinct)
end

local function expire_values(self, s, t)
  local q, edge = s.q, t - self.window
  while s.head <= s.tail and q[s.head].t <= edge do
    local e = q[s.head]
    q[s.head] = nil
    s.head = s.head + 1
    if s.seen[e.v] == e.t then s.seen[e.v] = nil; s.n = s.n - 1 end
  end
end

function Distinct:add(k, v)
  local t = self.now()
  local s = self.keys[k]
  if not s then
    if self.nkeys >= self.max_keys then self.dropped = self.dropped + 1 return 0 end
    s = { q = {}, head = 1, tail = 0, seen = {}, n = 0 }
    self.keys[k] = s
    self.nkeys = self.nkeys + 1
  end
  expire_values(self, s, t)
  if s.seen[v] == nil then
    if s.n >= self.max_values then self.dropped = self.dropped + 1 return s.n end
    s.n = s.n + 1
  end
  s.seen[v] = t
  s.tail = s.tail + 1
  s.q[s.tail] = { v = v, t = t }
  return s.n
end

--- distinct:count(key) -> distinct values of key within the window
function Distinct:count(k)
  local s = self.keys[k]
  if not s then return 0 end
  expire_values(self, s, self.now())
  if s.n == 0 then self.keys[k] = nil; self.nkeys = self.nkeys - 1 return 0 end
  return s.n
end
--- distinct:forget(key) -> nothing (e.g. after alerting)
function Distinct:forget(k)
  if self.keys[k] then self.keys[k] = nil; self.nkeys = self.nkeys - 1 end
end
--- distinct:prune() -> drops keys with nothing left in the window
function Distinct:prune() for k in pairs(self.keys) do self:count(k) end end
function Distinct:size() return self.nkeys end

-- Top-N --------------------------------------------------------------------------
-- Space-saving: at most `capacity` keys are counted; a new key past it replaces the
-- smallest and inherits its count, so heavy hitters are never lost.
local Top = {}
Top.__index = Top

--- ct.top{size = N, capacity = C} -> top;  top:add(key [, n]);  top:list() -> {{key, count}...}
function M.top(opts)
  opts = opts or {}
  local size = math.tointeger(opt_num(opts, "size", 10, 1)) or 10
  return setmetatable({ size = size, capacity = opt_num(opts, "capacity", size * 10, size),
    counts = {}, n = 0 }, Top)
end

function Top:add(k, n)
  n = n or 1
  local c = self.counts
  if c[k] then c[k] = c[k] + n return end
  if self.n < self.capacity then
    c[k] = n
    self.n = self.n + 1
    return
  end
  local mk, mv
  for key, v in pairs(c) do if not mv or v < mv then mk, mv = key, v end end
  c[mk] = nil
  c[k] = mv + n
end

function Top:list(limit)
  local out = {}
  for k, v in pairs(self.counts) do out[#out + 1] = { key = k, count = v } end
  table.sort(out, function(a, b)
    if a.count ~= b.count then return a.count > b.count end
    return tostring(a.key) < tostring(b.key)
  end)
  for i = (limit or self.size) + 1, #out do out[i] = nil end
  return out
end
--- top:reset() -> starts counting afresh (e.g. every refresh of a view)
function Top:reset() self.counts, self.n = {}, 0 end

-- Expiring state -----------------------------------------------------------------
local State = {}
State.__index = State

--- ct.state{ttl = S, max_keys = K} -> state
-- state:set(key, value) (re)arms the key's ttl; state:get(key) -> value | nil
function M.state(opts)
  opts = opts or {}
  return setmetatable({ ttl = opt_num(opts, "ttl", 60, 1e-9),
    max_keys = opt_num(opts, "max_keys", 100000, 1), vals = {}, exp = {}, q = {},
    head = 1, tail = 0, n = 0, dropped = 0, now = now }, State)
end

local function state_expire(self, t)
  local q = self.q
  while self.head <= self.tail and q[self.head].t <= t do
    local e = q[self.head]
    q[self.head] = nil
    self.head = self.head + 1
    if self.exp[e.k] == e.t then
      self.exp[e.k], self.vals[e.k] = nil, nil
      self.n = self.n - 1
    end
  end
end

function State:set(k, v)
  local t = self.now()
  state_expire(self, t)
  if v == nil then return self:delete(k) end
  if self.vals[k] == nil then
    if self.n >= self.max_keys then self.dropped = self.dropped + 1 return false end
    self.n = self.n + 1
  end
  local due = t + self.ttl
  self.vals[k], self.exp[k] = v, due
  self.tail = self.tail + 1
  self.q[self.tail] = { k = k, t = due }
  return true
end

function State:get(k)
  state_expire(self, self.now())
  return self.vals[k]
end

function State:delete(k)
  if self.vals[k] ~= nil then
    self.vals[k], self.exp[k] = nil, nil
    self.n = self.n - 1
  end
end

--- state:size() -> live keys;  state:pairs() -> iterator over live key, value
function State:size() state_expire(self, self.now()) return self.n end
function State:pairs() state_expire(self, self.now()) return next, self.vals, nil end

return M
