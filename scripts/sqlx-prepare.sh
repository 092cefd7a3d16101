#!/usr/bin/env bash
# Regenerates `.sqlx/`, the offline data of the compile-checked queries (`sqlx::query!`),
# against a fresh database with every migration applied. Run it after changing a query or a
# migration, and commit `.sqlx/` with the change. Builds without DATABASE_URL (CI, Docker)
# check the queries against this data; a query with no data there does not compile.
#
#   scripts/sqlx-prepare.sh        (needs scripts/services.sh up)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderflow/target}"

admin=postgres://orderflow:orderflow@127.0.0.1:5432/orderflow
db=orderflow_sqlx_prepare
psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
url=postgres://orderflow:orderflow@127.0.0.1:5432/$db
for migration in migrations/*.sql; do
  psql -q -v ON_ERROR_STOP=1 "$url" -f "$migration"
done

rm -rf .sqlx && mkdir .sqlx
# The macros describe every query against the live database and write their data to
# SQLX_OFFLINE_DIR; touching the sources makes them expand again.
touch $(grep -rl 'sqlx::query[a-z_]*!' src crates)
DATABASE_URL=$url SQLX_OFFLINE_DIR=$PWD/.sqlx cargo check --locked --workspace --all-targets
echo "sqlx-prepare: $(ls .sqlx | wc -l) queries in .sqlx/"
