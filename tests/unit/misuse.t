#!/bin/bash
# Every misuse of the table operations raises a Lua error naming the field; no root
# needed, because arguments are checked before anything reaches the kernel.
. "$(dirname "$0")/../lib/tap.sh"
cat > "$T_TMP/misuse.lua" <<'LUA'
package.path = os.getenv("TOP") .. "/tests/lib/?.lua;" .. package.path
local T = require "tap"
local tcp = { proto = "tcp", src = "10.0.0.1", dst = "10.0.0.2", sport = 1, dport = 2, timeout = 10 }
local function with(k, v)
  local t = {}
  for a, b in pairs(tcp) do t[a] = b end
  t[k] = v
  return t
end
local cases = {
  { "wrong type of the table", function() ct.get("tcp") end, "bad argument #1 to 'get' %(table expected, got string%)" },
  { "port out of range", function() ct.create(with("sport", 70000)) end, "bad argument #1 to 'create' %(tuple%.sport: out of range %(70000%)%)" },
  { "negative port", function() ct.delete(with("dport", -1)) end, "bad argument #1 to 'delete' %(tuple%.dport: out of range %(%-1%)%)" },
  { "port of the wrong type", function() ct.get(with("dport", "http")) end, "tuple%.dport: integer expected, got string" },
  { "fractional port", function() ct.get(with("dport", 1.5)) end, "tuple%.dport: integer expected" },
  { "bad address text", function() ct.get(with("src", "10.0.0.300")) end, "tuple%.src: bad address '10%.0%.0%.300'" },
  { "mixed families", function() ct.get(with("dst", "fd00::1")) end, "tuple%.dst: address 'fd00::1' is not of the entry's family" },
  { "family that contradicts the address", function() ct.get(with("family", "ipv6")) end, "tuple%.src: address '10%.0%.0%.1' is not of the entry's family" },
  { "unknown family", function() ct.get(with("family", "inet")) end, "family: \"ipv4\" or \"ipv6\" expected, got 'inet'" },
  { "unknown protocol name", function() ct.get(with("proto", "tpc")) end, "proto: unknown protocol 'tpc'" },
  { "protocol number out of range", function() ct.get(with("proto", 300)) end, "proto: protocol number out of range" },
  { "missing protocol", function() ct.get(with("proto", nil)) end, "proto: missing" },
  { "missing address", function() ct.get(with("src", nil)) end, "tuple%.src: missing" },
  { "missing port", function() ct.create(with("dport", nil)) end, "tuple%.dport: missing" },
  { "missing ICMP type", function() ct.get { proto = "icmp", src = "10.0.0.1", dst = "10.0.0.2" } end, "tuple%.type: missing" },
  { "missing timeout on create", function() ct.create(with("timeout", nil)) end, "bad argument #1 to 'create' %(timeout: missing" },
  { "orig of the wrong type", function() ct.create { proto = "tcp", orig = "x", timeout = 1 } end, "orig: table expected, got string" },
  { "reply of the wrong type", function() ct.create(with("reply", 5)) end, "reply: table expected, got number" },
  { "bad reply address", function() ct.create(with("reply", { src = "x", dst = "10.0.0.1", sport = 2, dport = 1 })) end, "reply%.src: bad address 'x'" },
  { "mark out of range", function() ct.create(with("mark", 1 << 33)) end, "mark: out of range" },
  { "unknown status flag", function() ct.create(with("status", { assurd = true })) end, "status: unknown flag 'assurd'" },
  { "unknown TCP state", function() ct.create(with("state", "OPEN")) end, "state: unknown TCP state 'OPEN'" },
  { "state on a non-TCP entry", function() ct.create { proto = "udp", src = "10.0.0.1", dst = "10.0.0.2", sport = 1, dport = 2, timeout = 1, state = "ESTABLISHED" } end, "state: only TCP states can be set" },
  { "unknown label", function() ct.create(with("labels", { nosuchlabel = true })) end, "labels: unknown label 'nosuchlabel'" },
  { "update changes of the wrong type", function() ct.update(tcp, "mark=1") end, "bad argument #2 to 'update' %(table expected, got string%)" },
  { "update mark mask of the wrong type", function() ct.update(tcp, { mark = 1, mask = "ff" }) end, "bad argument #2 to 'update' %(mask: integer expected, got string%)" },
  { "update timeout out of range", function() ct.update(tcp, { timeout = -5 }) end, "timeout: out of range" },
  { "a bad entry inside a delete list", function() ct.delete { tcp, with("sport", 1e6) } end, "bad argument #1 to 'delete' %(tuple%.sport: out of range" },
  { "flush with a bad family", function() ct.flush("ipx") end, "bad argument #1 to 'flush'" },
  { "list with a bad filter", function() ct.list { dprot = 1 } end, "unknown filter field 'dprot'" },
  { "expectation without tuple", function() ct.expect.delete { proto = "tcp" } end, "bad argument #1 to 'delete' %(tuple: missing" },
  { "expectation create without master", function() ct.expect.create { proto = "tcp", tuple = { src = "1.1.1.1", dst = "2.2.2.2", sport = 0, dport = 1 }, mask = { src = "255.255.255.255", dst = "255.255.255.255", sport = 0, dport = 65535 }, timeout = 1 } end, "master: missing" },
  { "expectation with an unknown flag", function() ct.expect.create { proto = "tcp", tuple = { src = "1.1.1.1", dst = "2.2.2.2", sport = 0, dport = 1 }, mask = { src = "255.255.255.255", dst = "255.255.255.255", sport = 0, dport = 65535 }, master = { src = "1.1.1.1", dst = "2.2.2.2", sport = 5, dport = 21 }, timeout = 1, flags = { forever = true } } end, "flags: unknown flag 'forever'" },
}
for _, c in ipairs(cases) do T.raises(c[2], c[3], "misuse raises: " .. c[1]) end
T.done()
LUA
out=$(TOP="$TOP" "$CTLUA" "$T_TMP/misuse.lua" 2>&1); is $? 0 "ctlua survives every misuse"
tap_include misuse.lua "$out"
done_testing
