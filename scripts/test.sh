#!/usr/bin/env bash
# orderflow's whole test suite against the real services: starts them (installing what is
# missing), then format check, lints, every test, the HTTP API against its OpenAPI document
# (schemathesis) and the deploy-artifact validators.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
scripts/api-conformance.sh
scripts/validate-deploy.sh
