#!/usr/bin/env bash
# Runs orderflow locally: services up, migrations, topics, then `orderflow all` (HTTP API on
# 127.0.0.1:3000, metrics on 127.0.0.1:9464, no authentication, webhooks on) until Ctrl-C.
# Extra arguments go to `all`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
"$bin" migrate
"$bin" topics create
# Webhook endpoint secrets are sealed with a key kept outside the database; a local run
# makes one once. Local receivers are on loopback, so private addresses are allowed here.
key=${XDG_DATA_HOME:-$HOME/.local/share}/orderflow/webhooks.key
if [[ ! -s $key ]]; then
  mkdir -p "$(dirname "$key")"
  (umask 077; "$bin" webhooks generate-key > "$key")
fi
# Local runs need no API key: every caller is storefront `default` (logged loudly).
exec "$bin" all --auth none --webhooks-secret-key-file "$key" --webhooks-allow-private "$@"
