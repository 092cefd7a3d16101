#!/usr/bin/env bash
# orderflow's local services on loopback: PostgreSQL 15, Redis and the nisshi Kafka-protocol
# broker. `up` installs whatever is missing and starts whatever is down (a second `up` is a
# no-op), as well as the system libraries the build links (OpenSSL); each service is
# reported ready only once it answers. Data lives in ./.services.
# `reset-kafka` restarts the broker empty: benchmarks leave gigabytes in its SQLite store,
# which slows it down (and its start) for every later run.
#
#   scripts/services.sh up | down | status | reset-kafka
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data="$root/.services"
nisshi_version=0.8.1
kafka_addr=127.0.0.1:9092
redis_port=6379

say() { echo "services: $*"; }

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local name=$1 seconds=$2; shift 2
  for _ in $(seq 1 $((seconds * 4))); do
    if "$@" >/dev/null 2>&1; then say "$name ready"; return 0; fi
    sleep 0.25
  done
  say "$name did not answer within ${seconds}s" >&2
  return 1
}

pg_answers() { pg_isready -h 127.0.0.1 -p 5432 -q; }
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ]; }
kafka_answers() { timeout 5 nisshi topic list --broker "tcp://$kafka_addr" >/dev/null 2>&1; }

postgres_up() {
  if [ ! -x /usr/lib/postgresql/15/bin/postgres ]; then
    say "installing postgresql"; apt_install postgresql
  fi
  pg_lsclusters -h 2>/dev/null | grep -q '^15 *main .*online' || pg_ctlcluster 15 main start
  wait_for postgresql 30 pg_answers
  # The role may create databases: every test creates a fresh one.
  su postgres -c "psql -qtAc \"DO \\\$\\\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orderflow') THEN
        CREATE ROLE orderflow LOGIN CREATEDB PASSWORD 'orderflow';
      END IF; END \\\$\\\$\"" >/dev/null
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'orderflow'\"" | grep -q 1 ||
    su postgres -c "createdb -O orderflow orderflow"
}

redis_up() {
  command -v redis-server >/dev/null || { say "installing redis-server"; apt_install redis-server; }
  if ! redis_answers; then
    mkdir -p "$data/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --daemonize yes \
      --dir "$data/redis" --logfile "$data/redis/redis.log"
  fi
  wait_for redis 15 redis_answers
}

kafka_up() {
  if ! command -v nisshi >/dev/null; then
    say "installing nisshi $nisshi_version (about 11 minutes, once per machine)"
    cargo install nisshi --version "$nisshi_version" --locked --no-default-features \
      --features libsql --ignore-rust-version
  fi
  if ! kafka_answers; then
    mkdir -p "$data/nisshi"
    # nisshi resolves its sqlite path and ./.env from its working directory.
    (cd "$data/nisshi" && {
      nohup nisshi broker \
        --listener-url "tcp://$kafka_addr" --advertised-listener-url "tcp://$kafka_addr" \
        --storage-engine sqlite://nisshi.db --group-initial-rebalance-delay 0s \
        >nisshi.log 2>&1 </dev/null &
      echo $! >nisshi.pid
    })
  fi
  wait_for "kafka (nisshi)" 60 kafka_answers
}

down() {
  if [ -f "$data/nisshi/nisshi.pid" ]; then
    kill "$(cat "$data/nisshi/nisshi.pid")" 2>/dev/null || true
    rm -f "$data/nisshi/nisshi.pid"
  fi
  redis-cli -h 127.0.0.1 -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  pg_ctlcluster 15 main stop 2>/dev/null || true
  say "stopped"
}

status() {
  local rc=0
  if pg_answers; then say "postgresql up"; else say "postgresql down"; rc=1; fi
  if redis_answers; then say "redis up"; else say "redis down"; rc=1; fi
  if kafka_answers; then say "kafka (nisshi) up"; else say "kafka (nisshi) down"; rc=1; fi
  return $rc
}

kafka_reset() {
  if [ -f "$data/nisshi/nisshi.pid" ]; then
    pid=$(cat "$data/nisshi/nisshi.pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$data/nisshi/nisshi.pid"
  fi
  rm -f "$data/nisshi"/nisshi.db*
  kafka_up
}

# Not a service, but what building orderflow needs from the system: librdkafka and the JWKS
# client link OpenSSL (TLS to the brokers, SASL/SCRAM, https).
build_deps() {
  pkg-config --exists openssl 2>/dev/null || { say "installing libssl-dev"; apt_install libssl-dev pkg-config; }
}

case "${1:-}" in
  up) build_deps; postgres_up; redis_up; kafka_up ;;
  down) down ;;
  status) status ;;
  reset-kafka) kafka_reset ;;
  *) echo "usage: $0 up|down|status|reset-kafka" >&2; exit 2 ;;
esac
