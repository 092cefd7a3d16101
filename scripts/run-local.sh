#!/usr/bin/env bash
# Runs orderflow locally: services up, migrations, topics, then `orderflow all` (HTTP API on
# 127.0.0.1:3000, metrics on 127.0.0.1:9464, no authentication) until Ctrl-C. Extra
# arguments go to `all`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-target}/release/orderflow
"$bin" migrate
"$bin" topics create
# Local runs need no API key: every caller is storefront `default` (logged loudly).
exec "$bin" all --auth none "$@"
