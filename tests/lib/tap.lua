-- tests/lib/tap.lua — minimal TAP for Lua checkers (run by lua5.4 or inside ctlua).
-- Lines are unnumbered; done() prints the plan last.
local T = { n = 0, failed = 0 }

local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or depth > 3 then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.show = show

function T.diag(...)
  local msg = table.concat({ ... }, " ")
  for line in (msg .. "\n"):gmatch("(.-)\n") do io.stdout:write("# ", line, "\n") end
end

function T.ok(cond, desc)
  T.n = T.n + 1
  if cond then
    io.stdout:write("ok - ", desc, "\n")
  else
    T.failed = T.failed + 1
    io.stdout:write("not ok - ", desc, "\n")
  end
  io.stdout:flush()
  return cond
end

local function deep_eq(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
T.deep_eq = deep_eq

function T.is(got, want, desc)
  local ok = deep_eq(got, want)
  T.ok(ok, desc)
  if not ok then T.diag("got:      " .. show(got), "expected: " .. show(want)) end
  return ok
end

-- like(got, pattern, desc): Lua pattern match on a string
function T.like(got, pat, desc)
  local ok = type(got) == "string" and got:find(pat) ~= nil
  T.ok(ok, desc)
  if not ok then T.diag("got:      " .. show(got), "expected to match: " .. pat) end
  return ok
end

-- raises(fn, pattern, desc): fn must raise an error whose text matches pattern
function T.raises(fn, pat, desc)
  local ok, err = pcall(fn)
  local good = not ok and tostring(err):find(pat) ~= nil
  T.ok(good, desc)
  if not good then T.diag("got: " .. (ok and "no error" or tostring(err)), "expected error matching: " .. pat) end
  return good
end

function T.done()
  io.stdout:write("1..", T.n, "\n")
  io.stdout:flush()
  return T.failed == 0
end

return T
