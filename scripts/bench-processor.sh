#!/usr/bin/env bash
# Processor throughput on this machine, in one run, over the same preloaded commands:
#   (a) orderflow processor (batches of --batch-max 1000)
#   (b) naive: the same processor with --batch-max 1 (one transaction per command)
#   (c) I/O ceiling: consume, COPY the same rows, produce the same events and snapshots
#       and mark them published, pipelined and grouped as the processor does; no decoding,
#       domain or cache (`orderflow loadgen io-ceiling`): an upper bound of (a)
# Rates are measured from each run's first committed batch to its last, from the offsets
# stored in PostgreSQL. The naive run is timed over its first NAIVE_SECONDS (it would take
# far longer than the others to finish). Last line is machine-readable.
#
# For comparable numbers start from an empty broker (`scripts/services.sh reset-kafka`): nisshi
# slows down as its store grows, and each run leaves ~0.5 GB in it. The run's databases are
# dropped at the end.
#
#   scripts/bench-processor.sh            # N=200000
#   N=50000 NAIVE_SECONDS=20 scripts/bench-processor.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-200000}
NAIVE_SECONDS=${NAIVE_SECONDS:-30}
run="bench_$(date +%s)"
db_url() { echo "postgres://orderflow:orderflow@127.0.0.1:5432/${run}_$1"; }
sql() { PGPASSWORD=orderflow psql -h 127.0.0.1 -U orderflow -d "$1" -tAq -c "$2"; }
now() { date +%s.%N; }

scripts/services.sh up >/dev/null
cargo build --release --locked --quiet
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
export RUST_LOG=${RUST_LOG:-warn,librdkafka=error}

topics() { # mode -> topic flags; every mode reads the same commands topic
  echo "--commands-topic $run.commands --events-topic $run.$1.events --state-topic $run.$1.state --dlq-topic $run.$1.dlq"
}
drop_databases() {
  # Retried: autovacuum may still be working in one for a moment.
  for mode in a b c; do
    for _ in 1 2 3 4 5; do
      sql orderflow "DROP DATABASE IF EXISTS ${run}_$mode" 2>/dev/null && break
      sleep 1
    done
  done
}
trap drop_databases EXIT
for mode in a b c; do
  sql orderflow "CREATE DATABASE ${run}_$mode"
  "$bin" migrate --database-url "$(db_url $mode)"
  # shellcheck disable=SC2046
  "$bin" topics create --partitions 12 $(topics $mode) >/dev/null
done
echo "preloading $N commands into $run.commands ..."
"$bin" loadgen preload --commands "$N" --commands-topic "$run.commands"

# measure MODE LIMIT_SECONDS CMD...: runs CMD until every command is consumed (or LIMIT
# seconds after its first commit) and prints commands/s.
measure() {
  local mode=$1 limit=$2; shift 2
  "$@" >/dev/null 2>"/tmp/$run.$mode.log" &
  local pid=$! t0="" c0=0 t c
  # A bar of the commands consumed, on a terminal only (stdout is this function's answer).
  "$bin" loadgen watch --database-url "$(db_url "$mode")" --total "$N" >/dev/null &
  local watch=$!
  while :; do
    c=$(sql "${run}_$mode" "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
    t=$(now)
    if [ -z "$t0" ] && [ "$c" -gt 0 ]; then t0=$t; c0=$c; fi
    if [ -n "$t0" ] && { [ "$c" -ge "$N" ] || python3 -c "import sys; sys.exit(0 if $t - $t0 >= $limit else 1)"; }; then
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      # Exited by itself (io-ceiling stops after N): read the final count once more.
      c=$(sql "${run}_$mode" "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
      t=$(now)
      [ -n "$t0" ] && [ "$c" -ge "$N" ] && break
      echo "mode $mode exited early; see /tmp/$run.$mode.log" >&2
      kill "$watch" 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  kill "$pid" "$watch" 2>/dev/null || true; wait "$pid" "$watch" 2>/dev/null || true
  python3 -c "print(round(($c - $c0) / ($t - $t0)))"
}

# shellcheck disable=SC2046
a=$(measure a 3600 "$bin" processor --group-id "$run-a" --database-url "$(db_url a)" $(topics a) --metrics-addr 127.0.0.1:0)
echo "(a) processor:        $a commands/s"
# shellcheck disable=SC2046
b=$(measure b "$NAIVE_SECONDS" "$bin" processor --batch-max 1 --group-id "$run-b" --database-url "$(db_url b)" $(topics b) --metrics-addr 127.0.0.1:0)
echo "(b) naive, batch 1:   $b commands/s (first ${NAIVE_SECONDS}s)"
# shellcheck disable=SC2046
c=$(measure c 3600 "$bin" loadgen io-ceiling --stop-after "$N" --group-id "$run-c" --database-url "$(db_url c)" $(topics c))
echo "(c) I/O ceiling:      $c commands/s"

python3 - "$a" "$b" "$c" <<'PY'
import sys
a, b, c = map(float, sys.argv[1:])
print(f"a/b = {a / b:.1f}  (target >= 50)")
print(f"a/c = {a / c:.2f}  (target >= 0.6)")
print(f"processor_vs_naive={a / b:.1f} processor_vs_ceiling={a / c:.2f} processor_cmds_per_s={a:.0f}")
PY
