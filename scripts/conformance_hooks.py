"""schemathesis hooks for scripts/api-conformance.sh.

A client sends a fresh Idempotency-Key per logical request; schemathesis reuses the keys it
generates across different requests, which the API rightly answers 422 (the IETF
Idempotency-Key draft). A well-formed key is made unique here (its generated characters
kept as a prefix), so a 422 means a broken rule, never a reused key. Malformed keys are sent
as generated. (Key reuse has its own tests in tests/it/ingress.rs.)
"""
import re
import uuid
from datetime import datetime

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


def total_is_negative(body):
    """The one rule of a create that JSON Schema cannot state (it spans fields): the total,
    the line totals plus every adjustment, must not be negative (the document's
    `NewOrderInput.adjustments` says so; the server answers 422 with field `adjustments`)."""
    if not isinstance(body, dict):
        return False
    items, adjustments = body.get("items"), body.get("adjustments")
    if not isinstance(items, list) or not isinstance(adjustments, list):
        return False
    try:
        subtotal = sum(i["quantity"] * i["unit_price"] for i in items)
        return subtotal + sum(a["amount"] for a in adjustments) < 0
    except (KeyError, TypeError):
        return False


def replay_range_is_inverted(body):
    """A replay's range must not end before it starts (`Replay` says so; 422, field `until`)."""
    if not isinstance(body, dict):
        return False
    since, until = body.get("since"), body.get("until")
    if not isinstance(since, str) or not isinstance(until, str):
        return False
    try:
        return datetime.fromisoformat(until) < datetime.fromisoformat(since)
    except ValueError:
        return False


def url_is_local(body):
    """The pattern of an endpoint's URL keeps out literal IPs; a `*.localhost` name is refused
    too (it resolves to loopback), which a pattern of host labels cannot exclude."""
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str):
        return False
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


@schemathesis.hook
def filter_case(ctx, case):
    """Schema-valid creates are generated with a total that is not negative, replays with a
    range in order, endpoints on a name other than localhost: the rules that span fields or
    that JSON Schema cannot state."""
    method = case.method.upper()
    if method == "POST" and case.path == "/v1/orders" and total_is_negative(case.body):
        return False
    if method == "POST" and case.path.endswith("/replay") and replay_range_is_inverted(case.body):
        return False
    if case.path.startswith("/v1/webhooks") and url_is_local(case.body):
        return False
    return True
