#!/bin/bash
# --metrics: GET /metrics in the Prometheus text format, checked by promtool and
# scraped by a real Prometheus on loopback, which is then queried for a counter;
# the script's own metrics and the series cap; bad requests and a stalled client
# never hold up event delivery.
. "$(dirname "$0")/../lib/tap.sh"
need_root
command -v promtool > /dev/null && command -v prometheus > /dev/null && command -v curl > /dev/null ||
	skip_all "prometheus, promtool or curl missing (make deps)"
in_netns "$@"

PORT=9477
cat > "$T_TMP/m.lua" <<'LUA'
local flows = ct.metrics.counter("test_flows_total", "New flows by destination port.", { "dport" }, { max_series = 3 })
local live = ct.metrics.gauge("test_live_flows", "Flows seen minus flows gone.")
local sizes = ct.metrics.histogram("test_dport_hundreds", "Destination ports / 100.", nil, { 1, 10, 100 })
ct.on("new", { proto = "udp" }, function(e)
  flows:inc({ dport = e.orig.dport })
  live:inc()
  sizes:observe(e.orig.dport / 100)
end)
ct.on("destroy", { proto = "udp" }, function() live:dec() end)
LUA
bg "$T_TMP/out" "$T_TMP/err" "$CTLUA" --metrics $PORT "$T_TMP/m.lua"; P=$BG_PID
wait_until 10 nl_subscribed $P; ok $? "ctlua subscribed"
wait_until 10 scrape $PORT > /dev/null; ok $? "/metrics answers on 127.0.0.1:$PORT"
like "$(ss -ltnH "sport = :$PORT")" "127\.0\.0\.1:$PORT" "a bare port binds loopback only"

for p in 5001 5002 5003 5004 5005; do "$TGEN" udp-oneway 127.0.0.1 $p 40000 > /dev/null; done
ctnew() { scrape $PORT | grep -q '^ctlua_events_total{event="new"} 5$'; }
wait_until 20 ctnew; ok $? "ctlua_events_total counts the 5 NEW events"
scrape $PORT > "$T_TMP/scrape.txt"
promtool check metrics < "$T_TMP/scrape.txt" > "$T_TMP/promtool.txt" 2>&1
ok $? "promtool check metrics passes on a live scrape"
[ -s "$T_TMP/promtool.txt" ] && note "$(cat "$T_TMP/promtool.txt")"
is "$(grep '^test_flows_total' "$T_TMP/scrape.txt" | tr '\n' ' ')" \
	'test_flows_total{dport="5001"} 1 test_flows_total{dport="5002"} 1 test_flows_total{dport="5003"} 1 ' \
	"a labelled counter, one series per label value, up to max_series"
like "$(cat "$T_TMP/scrape.txt")" 'ctlua_metrics_series_refused_total\{metric="test_flows_total"\} 2' "the 2 refused series are counted"
is "$(grep '^test_live_flows ' "$T_TMP/scrape.txt")" "test_live_flows 5" "a gauge"
is "$(grep '^test_dport_hundreds_' "$T_TMP/scrape.txt" | tr '\n' ' ')" \
	'test_dport_hundreds_bucket{le="1"} 0 test_dport_hundreds_bucket{le="10"} 0 test_dport_hundreds_bucket{le="100"} 5 test_dport_hundreds_bucket{le="+Inf"} 5 test_dport_hundreds_sum 250.14999999999998 test_dport_hundreds_count 5 ' \
	"a histogram: cumulative buckets, sum, count"
is "$(grep -c '^ctlua_handler_seconds_bucket' "$T_TMP/scrape.txt") $(grep '^ctlua_handler_seconds_count' "$T_TMP/scrape.txt")" \
	"13 ctlua_handler_seconds_count 5" "the delivery time histogram: 13 buckets, each of the 5 events counted"
like "$(cat "$T_TMP/scrape.txt")" 'ctlua_receive_buffer_bytes [1-9][0-9]*' "the receive buffer size"
n=$(sed -n 's/^ctlua_conntrack_entries //p' "$T_TMP/scrape.txt")
[ "${n:-0}" -ge 5 ]; ok $? "the table size ($n: the 5 flows and the scrapes' own TCP connections)"

is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")" 404 "other paths: 404"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/metrics")" 405 "other methods: 405"
big=$(head -c 20000 /dev/zero | tr '\0' a)
is "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $big" "http://127.0.0.1:$PORT/metrics")" 431 "a request over 8 KiB: 431"

# A client that connects and says nothing: events keep flowing meanwhile, and a
# scrape still answers; the silent one is cut after 5 s.
exec 3<>/dev/tcp/127.0.0.1/$PORT
"$TGEN" udp-oneway 127.0.0.1 5006 40000 > /dev/null
ct6() { scrape $PORT | grep -q '^ctlua_events_total{event="new"} 6$'; }
wait_until 10 ct6; ok $? "a stalled client does not hold up events or other scrapes"
cut_off() { ! ss -tnH state established "sport = :$PORT" | grep -q .; }
wait_until 10 cut_off; ok $? "the silent client is disconnected"
exec 3>&-

# A real Prometheus scrapes ctlua every second; its query API gives the count back.
cat > "$T_TMP/prom.yml" <<EOF
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: ctlua
    static_configs: [ { targets: ["127.0.0.1:$PORT"] } ]
EOF
bg "$T_TMP/prom.out" "$T_TMP/prom.err" prometheus --config.file="$T_TMP/prom.yml" \
	--storage.tsdb.path="$T_TMP/tsdb" --web.listen-address=127.0.0.1:9090; PROM=$BG_PID
query() {
	curl -s --max-time 5 'http://127.0.0.1:9090/api/v1/query' --data-urlencode 'query=ctlua_events_total{event="new",job="ctlua"}' |
		jq -r '.data.result[0].value[1] // empty'
}
got6() { [ "$(query)" = 6 ]; }
wait_until 60 got6; ok $? "Prometheus scraped ctlua: ctlua_events_total{event=\"new\"} = $(query)"
up() { curl -s 'http://127.0.0.1:9090/api/v1/query' --data-urlencode 'query=up{job="ctlua"}' | jq -r '.data.result[0].value[1] // empty'; }
is "$(up)" 1 "the target is up"
stop_pid $PROM
stop_pid $P; is "$STOP_RC" 0 "ctlua exits 0"

"$CTLUA" --metrics 'nonsense:' -e '' 2> "$T_TMP/bad.err"; is $? 2 "a bad --metrics address is a usage error"
"$CTLUA" -e 'ct.metrics.counter("bad name", "x")' 2> "$T_TMP/bad.err"; is $? 1 "a bad metric name raises"
like "$(cat "$T_TMP/bad.err")" "bad argument #1 to 'counter' \(metric name" "naming the argument"
"$CTLUA" -e 'ct.metrics.counter("a_total", "x", {"k"}):inc({})' 2> "$T_TMP/bad.err"
like "$(cat "$T_TMP/bad.err")" "bad argument #1 to 'inc' \(label 'k' missing\)" "a missing label raises, naming it"
"$CTLUA" -e 'ct.metrics.counter("a_total", "x"):inc(-1)' 2> "$T_TMP/bad.err"
like "$(cat "$T_TMP/bad.err")" "a counter only goes up" "a counter cannot go down"
done_testing
