#!/bin/bash
# Every bound function fed wrong types, out-of-range numbers, malformed addresses,
# huge strings, nil in every position: a Lua error or a failure return, never a crash.
# As root it runs in a fresh network namespace, so nothing a call does can touch the
# host's table; unprivileged, commands fail with EPERM.
. "$(dirname "$0")/../lib/tap.sh"
cat > "$T_TMP/robust.lua" <<'LUA'
local huge = string.rep("x", 1 << 20)
local VALUES = { nil, true, 0, -1, 1.5, 1e308, -1e308, 0/0, math.maxinteger, math.mininteger,
  "", "tcp", "10.0.0.300", "::::", "1.2.3.4/99", huge, {}, { proto = "tcp" },
  { proto = "icmp", src = "1.1.1.1", dst = "2.2.2.2" }, { proto = 999 }, { src = {} },
  { 1, 2, 3 }, print, coroutine.create(print), io.stdout }
local NV = 25
local calls, raised = 0, 0
local function try(f, ...)
  calls = calls + 1
  local ok = pcall(f, ...)
  if not ok then raised = raised + 1 end
end
local fns = {
  ct.on, ct.every, ct.after, ct.format, ct.json, ct.get, ct.create, ct.update, ct.delete,
  ct.count, ct.list, ct.entries, ct.expect.list, ct.expect.entries, ct.expect.get,
  ct.expect.create, ct.expect.delete, ct.spawn, ct.log.info, ct.log.open, ct.counter,
  ct.distinct, ct.top, ct.state, ct.now, ct.stats, ct.resync, ct.handover, ct.sink,
  ct.sink_spec, ct.metrics.counter, ct.metrics.gauge, ct.metrics.histogram, ct.ipfix,
  ct.watch, ct.unwatch, ct.namespaces,
}
for _, f in ipairs(fns) do
  try(f)
  for i = 1, NV do
    try(f, VALUES[i])
    for j = 1, NV, 3 do
      try(f, VALUES[i], VALUES[j])
      try(f, VALUES[j], VALUES[i], VALUES[j])
    end
  end
end
-- methods on handles, with bad arguments
local t = ct.after(1000, print)
for i = 1, NV do try(t.stop, VALUES[i]) try(t.active, VALUES[i]) end
t:stop()
for _, obj in ipairs { ct.counter(), ct.distinct(), ct.top(), ct.state() } do
  for _, m in ipairs { "add", "count", "rate", "set", "get", "delete", "list", "prune", "size" } do
    if obj[m] then for i = 1, NV do try(obj[m], obj, VALUES[i], VALUES[(i % NV) + 1]) end end
  end
end
local sink = ct.sink { to = "file", path = os.tmpname() }
local udp = ct.sink { to = "udp", address = "127.0.0.1:9" }
local x = ct.ipfix { collector = "127.0.0.1:9" }
-- (in a fresh namespace loopback is down: the UDP ones may not open; skip those)
local objs = { ct.metrics.counter("r_total", "r", { "a" }), ct.metrics.gauge("r_g", "r"),
  ct.metrics.histogram("r_h", "r", { "a" }, { 1, 2 }), sink }
if udp then objs[#objs + 1] = udp end
if x then objs[#objs + 1] = x end
for _, obj in ipairs(objs) do
  for _, m in ipairs { "inc", "dec", "set", "observe", "write", "stats", "export", "flush" } do
    if obj[m] then
      for i = 1, NV do try(obj[m], obj, VALUES[i], VALUES[(i % NV) + 1]) try(obj[m], obj, VALUES[i]) end
    end
  end
end
if x then x:close() end
sink:close()
for i = 1, NV do try(sink.write, sink, VALUES[i]) end   -- closed: an error, not a crash
if udp then udp:close() for i = 1, NV do try(udp.write, udp, VALUES[i]) end end
ct.log.open { to = "stderr" }
print(calls, raised)
LUA
if [ "$(id -u)" = 0 ]; then RUN="unshare -n"; else RUN=""; fi
out=$($RUN "$CTLUA" "$T_TMP/robust.lua" 2>"$T_TMP/err"); rc=$?
is "$rc" 0 "ctlua survives every call and exits 0"
read -r calls raised <<< "$out"
[ "${calls:-0}" -gt 5000 ]; ok $? "made $calls calls, $raised of them raised a Lua error"
grep -q 'AddressSanitizer\|runtime error\|Segmentation' "$T_TMP/err"
is $? 1 "no sanitizer report, no crash"
done_testing
