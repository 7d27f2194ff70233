"""Teaches schemathesis what consort's OpenAPI document says in words.

Loaded by crates/consort/tests/schemathesis.rs through SCHEMATHESIS_HOOKS. Each hook
stands for a rule the document states in a description or a custom `format`, never one
it does not state:

- `format: quartz-cron` and `format: iana-time-zone` are drawn from valid values.
- Positive cases: a trigger's `end_time` is after its `start_time` and the schedule fires
  in between; a `cursor` is only ever a `next_cursor` the server issued, so a made-up one
  is left out.
- Against a server without authentication (no `admin.token` in its data directory, the
  test sets CONSORT_SCHEMATHESIS_NO_AUTH=1) the operations' `security` is dropped: such a
  server accepts requests without a token, which is what it was started to do.
- The token it runs with is never revoked (CONSORT_SCHEMATHESIS_KEEP holds its id and
  name): it finds it in `GET /v1/tokens`, and revoking it would end the run early.
- The run exercises `noop` jobs only: jobs of other kinds need their own parameters
  (a `command` job runs a program), which no generic document can describe.
"""

import base64
import os

import schemathesis
from hypothesis import strategies as st

CRONS = [
    "0 0 12 * * ?",
    "0 15 10 ? * MON-FRI",
    "0 15 10 ? * 6L",
    "0 0/5 14,18 * * ?",
    "0 0 12 LW * ?",
    "0 11 11 11 11 ?",
    "*/30 * * * * ?",
    "0 0 2 ? * 2#1",
]
ZONES = ["UTC", "Europe/Rome", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]

schemathesis.openapi.format("quartz-cron", st.sampled_from(CRONS))
schemathesis.openapi.format("iana-time-zone", st.sampled_from(ZONES))


@schemathesis.hook
def before_load_schema(context, raw_schema):
    kind = raw_schema["components"]["schemas"]["JobDefinition"]["properties"]["kind"]
    kind.pop("pattern", None)
    kind["enum"] = ["noop"]
    if os.environ.get("CONSORT_SCHEMATHESIS_NO_AUTH") == "1":
        for item in raw_schema["paths"].values():
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.pop("security", None)


def _positive(case):
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return mode is not None and getattr(mode, "is_positive", False)


def _fix_trigger(trigger):
    if not isinstance(trigger, dict):
        return
    # A schedule that fires: starts in 2026 and ends, if at all, in 2100.
    if "start_time" in trigger or "end_time" in trigger:
        trigger["start_time"] = "2026-01-01T00:00:00Z"
    if "end_time" in trigger:
        trigger["end_time"] = "2100-01-01T00:00:00Z"


def _issued(cursor):
    """Whether `cursor` can be a `next_cursor` the server issued (base64url of the list's name
    and the last key), as a link from the previous page carries it."""
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return False
    return text.split("\n", 1)[0] in ("jobs", "triggers", "runs", "instances")


KEEP = set(filter(None, os.environ.get("CONSORT_SCHEMATHESIS_KEEP", "").split(",")))


@schemathesis.hook
def map_case(context, case):
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    if case.operation.path == "/v1/tokens/{id}/revoke" and params.get("id") in KEEP:
        params["id"] = "tok_notTheRunsOwn"
    if not _positive(case):
        return case
    if isinstance(case.query, dict) and "cursor" in case.query and not _issued(case.query["cursor"]):
        del case.query["cursor"]
    body = case.body
    if isinstance(body, dict):
        _fix_trigger(body)
        for trigger in body.get("triggers") or []:
            _fix_trigger(trigger)
    return case


@schemathesis.serializer("application/cose")
def cose(ctx, value):
    """Signed governance requests are COSE_Sign1 bytes: whatever was generated is sent as it is
    (the server must refuse it with its error shape, never fail)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return str(value).encode()
