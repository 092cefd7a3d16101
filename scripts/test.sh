#!/usr/bin/env bash
# orderflow's whole test suite against the real services: starts them (installing what is
# missing), then format check, lints and every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
