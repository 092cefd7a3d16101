"""schemathesis hooks for scripts/api-conformance.sh.

A client sends a fresh Idempotency-Key per logical request; schemathesis reuses the keys it
generates across different requests, which the API rightly answers 422 (the IETF
Idempotency-Key draft). A well-formed key is made unique here (its generated characters
kept as a prefix), so a 422 means a broken rule, never a reused key. Malformed keys are sent
as generated. (Key reuse has its own tests in tests/it/ingress.rs.)
"""
import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"[!-~]{1,255}")


def tests_authorization(case):
    """A coverage case about the Authorization header (left out or mangled): editing such a
    case makes schemathesis revalidate it with the run's credentials put back."""
    data = getattr(getattr(case.meta, "phase", None), "data", None)
    return str(getattr(data, "parameter", "") or "").lower() == "authorization"


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers
    key = headers.get("Idempotency-Key") if headers else None
    if isinstance(key, str) and WELL_FORMED.fullmatch(key) and not tests_authorization(case):
        headers["Idempotency-Key"] = f"{key[:222]}.{uuid.uuid4().hex}"
