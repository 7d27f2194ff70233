"""The consort server's runner routes (/v1/cleanrooms/{cleanroom}/runs/{run}/runner/...).

Only the attest call goes without the session; the session token and secret answers are kept out
of every message and repr.
"""

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import ConsentRefused, RunnerError, ServerRefused

STOP_CODES = ("consent_withdrawn", "run_not_live")
RETRY_STATUSES = (502, 503, 504)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the bearer token to wherever it points: treat it as an error."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class ServerClient:
    def __init__(self, server: str, cleanroom: str, run: str, timeout: float = 30.0, attempts: int = 3):
        if not server.startswith(("http://", "https://")):
            raise RunnerError("invalid_arguments", f"{server!r} is not an http(s) URL", "--server", "pass the consort server's URL")
        room = urllib.parse.quote(cleanroom, safe="")
        self.base = f"{server.rstrip('/')}/v1/cleanrooms/{room}/runs/{urllib.parse.quote(run, safe='')}/runner"
        self.timeout = timeout
        self.attempts = attempts
        self._session = None

    def __repr__(self):
        return f"ServerClient({self.base!r}, session={'<set>' if self._session else None})"

    def set_session(self, token: str):
        self._session = token

    def _call(self, method: str, route: str, body=None):
        url = f"{self.base}/{route}"
        # An empty POST still says Content-Length: 0.
        data = (b"" if method == "POST" else None) if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._session is not None:
            headers["Authorization"] = f"Bearer {self._session}"
        last_problem = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(0.5 * 2**attempt)
            request = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as e:
                if e.code in RETRY_STATUSES:
                    last_problem = f"HTTP {e.code}"
                    continue
                raise self._refusal(e, route) from None
            except (urllib.error.URLError, OSError) as e:
                last_problem = getattr(e, "reason", None) or e.__class__.__name__
                continue
            except ValueError:
                raise RunnerError("server_error", f"{method} {route}: the answer is not JSON", route, "check the --server URL") from None
        raise RunnerError(
            "server_unreachable", f"{method} {route} failed {self.attempts} times ({last_problem})", "--server",
            "check the server is up and reachable from the driver",
        )

    @staticmethod
    def _refusal(error, route):
        code, message, param = "server_error", error.reason or "", None
        try:
            body = json.loads(error.read() or b"{}")
            detail = body.get("error", {})
            code = detail.get("code") or code
            message = detail.get("message") or message
            param = detail.get("param")
        except (ValueError, AttributeError):
            pass
        # The document answers these with 409; any status carrying them means stop, not fail.
        if code in STOP_CODES:
            return ConsentRefused(code, message)
        return ServerRefused(error.code, code, f"{route}: {message}", param)

    def attest(self, evidence: bytes, one_off_public: bytes):
        """POST attest: the evidence and the one-off key; the answer is the sealed session."""
        answer = self._call(
            "POST",
            "attest",
            {
                "evidence": base64.b64encode(evidence).decode("ascii"),
                "one_off_public_key": base64.b64encode(one_off_public).decode("ascii"),
            },
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("session"), dict):
            raise RunnerError("attestation_failed", "the attest answer has no session object", "session", "check the server's version")
        return answer["session"]

    def check_consent(self):
        """Raises ConsentRefused unless every party still consents to this run executing."""
        answer = self._call("GET", "consent")
        if not isinstance(answer, dict) or answer.get("execution") is not True:
            raise ConsentRefused("consent_withdrawn", "the server did not confirm execution consent")

    def secret(self, name: str):
        """POST secrets/{name}: the secret sealed to the one-off key."""
        return self._call("POST", f"secrets/{urllib.parse.quote(name, safe='')}", None)

    def event(self, body: dict):
        self._call("POST", "events", body)
