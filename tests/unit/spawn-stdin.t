#!/bin/bash
# ct.spawn and SIGPIPE: a command that never reads its stdin (exits at once, or
# sleeps) makes the stdin write fail with EPIPE. ctlua lives and the callback says
# so; the command's own SIGPIPE is the default again (ct.spawn, io.popen,
# os.execute), while ctlua's is caught.
. "$(dirname "$0")/../lib/tap.sh"
cat > "$T_TMP/spawn.lua" <<'LUA'
local n, want = 0, 0
local function ok(c, d) n = n + 1; print((c and "ok - " or "not ok - ") .. d) end
local function is(a, b, d) ok(a == b, d); if a ~= b then print("# got " .. tostring(a) .. ", expected " .. tostring(b)) end end
local pending = 0
local function done() pending = pending - 1; if pending == 0 then print("1.." .. n); ct.stop() end end
local function spawn(argv, opts, cb) pending = pending + 1; assert(ct.spawn(argv, opts, function(...) cb(...); done() end)) end
local MiB = string.rep("x", 1 << 20)

local st = io.open("/proc/self/status"):read("a")
local function bit13(mask) return tonumber(mask, 16) >> 12 & 1 end
is(bit13(st:match("SigCgt:%s*(%x+)")), 1, "ctlua catches SIGPIPE")
is(bit13(st:match("SigIgn:%s*(%x+)")), 0, "and does not ignore it (an exec would inherit that)")

spawn({"true"}, {stdin = MiB}, function(code, out, err, sig, serr)
  is(code, 0, "true with 1 MiB of stdin exits 0"); is(sig, nil, "no signal")
  is(serr, "EPIPE", "the callback reports the stdin write failed: EPIPE")
end)
spawn({"sleep", "1"}, {stdin = MiB}, function(code, _, _, _, serr)
  is(code, 0, "sleep 1 ignoring 1 MiB of stdin exits 0"); is(serr, "EPIPE", "stdin_error EPIPE")
end)
local small, bad = 0, 0
for _ = 1, 20 do
  spawn({"true"}, {stdin = "hello\n"}, function(code, _, _, _, serr)
    small = small + 1
    if code ~= 0 or (serr ~= nil and serr ~= "EPIPE") then bad = bad + 1 end
    if small == 20 then is(bad, 0, "20 x true with 'hello' as stdin: all called back, stdin_error nil or EPIPE") end
  end)
end
spawn({"cat"}, {stdin = MiB}, function(code, out, _, _, serr)
  is(code, 0, "cat exits 0"); is(#out, #MiB, "cat read the whole MiB back"); is(serr, nil, "no stdin error when all was read")
end)
spawn({"sh", "-c", "grep ^SigIgn /proc/self/status; kill -PIPE $$; echo alive"}, {}, function(code, out, _, sig)
  is(bit13(out:match("SigIgn:%s*(%x+)") or "ffffffff"), 0, "a spawned command does not ignore SIGPIPE")
  is(sig, 13, "a spawned command dies of SIGPIPE (default disposition)")
  ok(not out:find("alive"), "and did not go on")
end)
local p = io.popen("sh -c 'kill -PIPE $$; echo alive'"); local pout = p:read("a"); p:close()
is(pout, "", "an io.popen command dies of SIGPIPE")
local _, how, sig = os.execute("kill -PIPE $$")
is(how .. " " .. tostring(sig), "signal 13", "an os.execute command dies of SIGPIPE")
ct.after(30, function() print("not ok - the callbacks came within 30 s (" .. pending .. " missing)"); ct.stop() end)
LUA
out=$(timeout 60 "$CTLUA" --netlink-file "$TOP/tests/data/ipv4.nl" "$T_TMP/spawn.lua" 2>"$T_TMP/err")
rc=$?
is "$rc" 0 "ctlua survives commands that do not read their stdin (exit 0, not 141)"
[ "$rc" = 0 ] || diag "$(head -20 "$T_TMP/err")"
tap_include spawn.lua "$out"
# A command that cannot start fails like every operation: nil, message, libuv's name.
out=$("$CTLUA" -e 'print(ct.spawn({"/nonexistent/ctlua-test"}))' 2>&1)
is "$out" "nil	No such file or directory	ENOENT" "a command that cannot start: nil, message, ENOENT"
done_testing
