# Shared by the HTTP benchmarks (bench-ingress.sh, bench-e2e.sh); sourced, not run.

# The order every benchmark POSTs.
order_body='{"customer_id":"c-42","currency":"EUR","items":[{"sku":"SKU-1","quantity":2,"unit_price":1999}],"shipping_address":{"name":"Ada Lovelace","line1":"1 Main St","line2":null,"city":"Berlin","postal_code":"10115","country":"DE"},"metadata":{"channel":"web"}}'

# write_post_lua FILE: a wrk script that POSTs $order_body as JSON.
write_post_lua() {
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$order_body'
LUA
}

# wait_http URL: waits up to 10 s for a 2xx answer.
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# watch_start ARGS...: `orderflow loadgen watch ARGS` in the background, a progress bar on a
# terminal (nothing in CI); watch_stop ends it. Needs $bin.
watch_start() { "$bin" loadgen watch "$@" >/dev/null & watch_pid=$!; }
watch_stop() { kill "$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; }

# wrk_run CONNECTIONS SECONDS URL [wrk args]: prints "rps p50_ms p99_ms requests"; fails on any
# non-2xx answer. Shows the phase's seconds on a terminal.
wrk_run() {
  local connections=$1 seconds=$2 url=$3 status=0; shift 3
  watch_start --seconds "$seconds"
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@" "$url" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if bad:
    sys.exit(f"{bad.group(1)} non-2xx responses")
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {total}")' || status=$?
  watch_stop
  return "$status"
}
