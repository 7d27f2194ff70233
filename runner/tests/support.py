"""Shared by the runner's tests: one Spark session for the process, real S3 (moto) and Azure Blob
(azurite) servers, a simulated TEE key, job configs, and FakeConsort, a small honest stand-in for
the consort server's runner routes (it verifies what the real server verifies and seals its
answers with HPKE) until the end-to-end test runs the runner against the real server.

The fake re-implements the protocol from docs/cleanroom-runs.md on purpose instead of importing
the runner's helpers, so a runner that drifts from the document fails here.
"""

import atexit
import base64
import datetime
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from cryptography.hazmat.primitives import hpke, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519  # noqa: E402

RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(RUNNER_DIR, "consort_runner")
CACHE = os.environ.get("CONSORT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "consort")
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)

_cleanups = []
atexit.register(lambda: [f() for f in reversed(_cleanups)])


# --- Spark: one session for the whole test process ------------------------------------------------

_spark = None


def spark():
    global _spark
    if _spark is None:
        from pyspark.sql import SparkSession

        _spark = (
            SparkSession.builder.master("local[1]")
            .appName("consort-runner-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .config("spark.driver.memory", "1g")
            .getOrCreate()
        )
        _spark.sparkContext.setLogLevel("ERROR")
        _cleanups.append(_spark.stop)
    return _spark


# --- the protocol, written out again from the document --------------------------------------------


def independent_measurement(package_dir):
    parent = os.path.dirname(os.path.abspath(package_dir))
    files = []
    for root, dirs, names in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files += [os.path.relpath(os.path.join(root, n), parent).replace(os.sep, "/") for n in names if n.endswith(".py")]
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.encode()):
        with open(os.path.join(parent, path), "rb") as f:
            content = f.read()
        digest.update(path.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def length_prefixed(label, *parts):
    return label + b"".join(struct.pack(">I", len(p.encode())) + p.encode() for p in parts)


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def new_run_id():
    return secrets.token_hex(8)


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


class TeeKey:
    """A simulated TEE's attestation key, in a PKCS#8 DER file as the runner gets it."""

    def __init__(self):
        self.private = ed25519.Ed25519PrivateKey.generate()
        self.public = self.private.public_key()
        handle, self.path = tempfile.mkstemp(prefix="tee-key-", suffix=".der")
        with os.fdopen(handle, "wb") as f:
            f.write(
                self.private.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        _cleanups.append(lambda: os.path.exists(self.path) and os.remove(self.path))


class FakeConsort:
    """The server's runner routes for one run, checking evidence, binding and bearer honestly."""

    def __init__(self, cleanroom, run, config_bytes, tee_public, secrets=None, measurement=None):
        self.cleanroom, self.run, self.config_bytes = cleanroom, run, config_bytes
        self.tee_public = tee_public
        self.secrets = dict(secrets or {})  # name -> bytes, the grants of this run
        self.measurement = measurement or independent_measurement(PACKAGE_DIR)
        self.consent = True
        self.session = None
        self.one_off_public = None
        self.events = []
        self.calls = []  # (method, route, status)
        self.on_event = None  # called with each event body, e.g. to withdraw consent mid-run
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def routes(self):
        return [route for _, route, _ in self.calls]

    # Answers -----------------------------------------------------------------------------------

    @staticmethod
    def _send(handler, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        if body is not None:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def _error(code, message, param=None):
        return {"error": {"code": code, "message": message, "param": param}}

    def _seal(self, plaintext, info):
        sealed = SUITE.encrypt(plaintext, x25519.X25519PublicKey.from_public_bytes(self.one_off_public), info=info)
        return {"enc": base64.b64encode(sealed[:32]).decode(), "ciphertext": base64.b64encode(sealed[32:]).decode()}

    def _handle(self, handler, method):
        prefix = f"/v1/cleanrooms/{self.cleanroom}/runs/{self.run}/runner/"
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if not handler.path.startswith(prefix):
            return self._send(handler, 404, self._error("not_found", "no such run"))
        route = handler.path[len(prefix):]
        with self._lock:
            status, body = self._answer(method, route, raw, handler.headers.get("Authorization"))
            self.calls.append((method, route, status))
        # Before answering: the runner's next call must already see what the hook changed.
        if method == "POST" and route == "events" and status == 204 and self.on_event:
            self.on_event(json.loads(raw))
        self._send(handler, status, body)

    def _answer(self, method, route, raw, authorization):
        if (method, route) == ("POST", "attest"):
            return self._attest(raw)
        if self.session is None or authorization != f"Bearer {self.session}":
            return 401, self._error("unauthenticated", "no valid runner session")
        if (method, route) == ("GET", "consent"):
            if not self.consent:
                return 409, self._error("consent_withdrawn", "a party withdrew execution consent")
            return 200, {"execution": True}
        if method == "POST" and route.startswith("secrets/"):
            name = route[len("secrets/"):]
            if raw:
                return 400, self._error("invalid_body", "the body must be empty")
            if name not in self.secrets:
                return 404, self._error("not_found", f"no grant of secret {name} to this run", "name")
            info = length_prefixed(b"consort-attest/v1 secret", self.cleanroom, self.run, name)
            return 200, self._seal(self.secrets[name], info)
        if (method, route) == ("POST", "events"):
            event = json.loads(raw)
            self.events.append(event)
            return 204, None
        return 404, self._error("not_found", f"no route {method} {route}")

    def _attest(self, raw):
        refuse = lambda code, message: (403, self._error(code, message))  # noqa: E731
        try:
            body = json.loads(raw)
            assert set(body) == {"evidence", "one_off_public_key"}
            evidence = json.loads(base64.b64decode(body["evidence"], validate=True))
            one_off = base64.b64decode(body["one_off_public_key"], validate=True)
            assert set(evidence) == {"payload", "signature"} and len(one_off) == 32
            payload_bytes = base64.b64decode(evidence["payload"], validate=True)
            signature = base64.b64decode(evidence["signature"], validate=True)
        except (AssertionError, ValueError, TypeError, KeyError):
            return refuse("attestation_failed", "malformed evidence")
        try:
            self.tee_public.verify(signature, payload_bytes)
        except Exception:
            return refuse("attestation_failed", "the report's signature does not verify")
        payload = json.loads(payload_bytes)
        expected_keys = {"version", "platform", "measurement", "host_data", "report_data", "debuggable", "issued_at"}
        if set(payload) != expected_keys or payload["version"] != 1 or payload["platform"] != "simulated":
            return refuse("attestation_failed", "not a version-1 simulated report")
        if not -60 <= time.time() - payload["issued_at"] <= 300 or payload["debuggable"] is not False:
            return refuse("attestation_failed", "stale or debuggable report")
        if payload["report_data"] != (hashlib.sha256(one_off).digest() + bytes(32)).hex():
            return refuse("attestation_failed", "report_data does not bind the one-off key")
        if payload["measurement"].lower() != self.measurement:
            return refuse("measurement_not_allowed", "the runner's measurement is not in the policy")
        if payload["host_data"].lower() != hashlib.sha256(self.config_bytes).hexdigest():
            return refuse("attestation_failed", "host_data is not this run's job config")
        if not self.consent:
            return 409, self._error("consent_withdrawn", "a party withdrew execution consent")
        self.one_off_public = one_off
        self.session = "crs_" + secrets.token_urlsafe(32)
        info = length_prefixed(b"consort-run/v1 session", self.cleanroom, self.run)
        return 200, {"session": self._seal(self.session.encode(), info)}


# --- real object stores ---------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A server process bound to 127.0.0.1, stopped at the end of the test process."""

    def __init__(self, argv, port, what):
        self.dir = tempfile.mkdtemp(prefix=f"{what}-")
        self._log = open(os.path.join(self.dir, "server.log"), "wb")
        self.process = subprocess.Popen(argv, cwd=self.dir, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _cleanups.append(self.stop)
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"{what} did not start on port {port}; see {self.dir}/server.log")
                time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def installed(path, what):
    if not os.path.exists(path):
        raise RuntimeError(f"{what} is not installed at {path}; run scripts/setup first")
    return path


S3_KEYS = {"region": "us-east-1", "accessKeyId": "AKIARUNNERTEST", "secretAccessKey": "runner-s3-secret-value-0001"}


class MotoS3:
    def __init__(self):
        binary = installed(os.path.join(CACHE, "venvs", "moto", "bin", "moto_server"), "moto")
        port = free_port()
        self.server = Emulator([binary, "-H", "127.0.0.1", "-p", str(port)], port, "moto")
        self.endpoint = f"http://127.0.0.1:{port}"
        import boto3

        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=S3_KEYS["accessKeyId"], aws_secret_access_key=S3_KEYS["secretAccessKey"],
        )

    def secret(self):
        return json.dumps(dict(S3_KEYS, endpoint=self.endpoint)).encode()


AZURITE_ACCOUNT = "devstoreaccount1"
# The well-known azurite development key (public, documented by Microsoft).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    def __init__(self):
        binary = installed(os.path.join(CACHE, "azurite", "node_modules", ".bin", "azurite-blob"), "azurite")
        port = free_port()
        data = tempfile.mkdtemp(prefix="azurite-data-")
        _cleanups.append(lambda: shutil.rmtree(data, ignore_errors=True))
        self.server = Emulator(
            [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", data, "--silent", "--skipApiVersionCheck"],
            port, "azurite",
        )
        self.endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        from azure.storage.blob import BlobServiceClient

        self.service = BlobServiceClient(
            account_url=self.endpoint, credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY}
        )

    def secret(self):
        return json.dumps({"endpoint": self.endpoint, "account": AZURITE_ACCOUNT, "accountKey": AZURITE_KEY}).encode()


# --- captured runner logs -------------------------------------------------------------------------


class CapturedLog(logging.Handler):
    """Everything the runner logs during a `with` block, to check no secret reaches it."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))

    def __enter__(self):
        logger = logging.getLogger("consort_runner")
        self._saved = (logger.handlers[:], logger.level, logger.propagate)
        logger.handlers[:] = [self]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return self

    def __exit__(self, *exc):
        logger = logging.getLogger("consort_runner")
        logger.handlers[:], level, logger.propagate = self._saved
        logger.setLevel(level)

    @property
    def text(self):
        return "\n".join(self.lines)
