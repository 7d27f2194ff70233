"""The runner's pieces that need no Spark: measurement, job config checks, attestation, locations."""

import base64
import hashlib
import json
import os
import shutil
import tempfile
import unittest
import zipfile

from cryptography.hazmat.primitives.asymmetric import x25519

from consort_runner import attestation, measurement
from consort_runner.config import parse_job_config
from consort_runner.errors import RunnerError
from consort_runner.locations import parse_location
from consort_runner.redaction import Redactor

from . import support

RUN = "0123456789abcdef"


def minimal_config(**overrides):
    config = {
        "cleanroom": "r",
        "datasets": [
            {
                "allowedFields": ["a"], "format": "csv", "id": "d1", "location": "file:///tmp/x", "owner": "alice",
                "schema": [{"name": "a", "type": "string"}, {"name": "b", "type": "integer"}], "secrets": [], "view": "v1",
            }
        ],
        "query": {"id": "q", "segments": [{"executionOrder": 1, "sql": "SELECT a FROM v1"}], "version": 1},
        "run": RUN,
        "sink": {"allowedFields": ["a"], "format": "parquet", "id": "s", "location": "file:///tmp/out", "owner": "carol", "secrets": []},
    }
    config.update(overrides)
    return config


class MeasurementTest(unittest.TestCase):
    def setUp(self):
        self.parent = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.parent)
        self.package = os.path.join(self.parent, "consort_runner")
        os.makedirs(os.path.join(self.package, "sub"))
        for path, text in {"__init__.py": "", "b.py": "B = 1\n", "sub/a.py": "A = 2\n", "notes.txt": "ignored"}.items():
            with open(os.path.join(self.package, path), "w") as f:
                f.write(text)

    def test_the_shipped_package_measures_as_the_document_says(self):
        self.assertEqual(measurement.measure(support.PACKAGE_DIR), support.independent_measurement(support.PACKAGE_DIR))
        self.assertEqual(measurement.measure_running_package(), measurement.measure(support.PACKAGE_DIR))

    def test_worked_example(self):
        # Written out by hand: paths in byte order, each path NUL length(8, BE) content.
        expected = hashlib.sha256(
            b"consort_runner/__init__.py\0" + (0).to_bytes(8, "big")
            + b"consort_runner/b.py\0" + (6).to_bytes(8, "big") + b"B = 1\n"
            + b"consort_runner/sub/a.py\0" + (6).to_bytes(8, "big") + b"A = 2\n"
        ).hexdigest()
        self.assertEqual(measurement.measure(self.package), expected)

    def test_a_changed_or_added_python_file_changes_it_and_other_files_do_not(self):
        before = measurement.measure(self.package)
        with open(os.path.join(self.package, "notes.txt"), "w") as f:
            f.write("changed")
        self.assertEqual(measurement.measure(self.package), before)
        with open(os.path.join(self.package, "b.py"), "a") as f:
            f.write("# tampered\n")
        self.assertNotEqual(measurement.measure(self.package), before)

    def test_a_zipped_package_measures_the_same(self):
        archive = os.path.join(self.parent, "runner.zip")
        with zipfile.ZipFile(archive, "w") as z:
            for root, _, names in os.walk(self.package):
                for name in names:
                    full = os.path.join(root, name)
                    z.write(full, os.path.relpath(full, self.parent))
        self.assertEqual(measurement.measure_zip(archive), measurement.measure(self.package))

    def test_host_data_hashes_the_bytes_as_sent(self):
        raw = support.canonical(minimal_config())
        self.assertEqual(measurement.host_data(raw), hashlib.sha256(raw).hexdigest())
        self.assertNotEqual(measurement.host_data(raw + b" "), measurement.host_data(raw))


class ConfigTest(unittest.TestCase):
    def assert_refused(self, config, field, *words, **kwargs):
        with self.assertRaises(RunnerError) as caught:
            parse_job_config(support.canonical(config), **kwargs)
        self.assertEqual(caught.exception.field, field)
        for word in words:
            self.assertIn(word, str(caught.exception))
        self.assertTrue(caught.exception.fix, "every refusal says how to fix it")

    def test_a_good_config_parses_with_views_named_by_execution_order(self):
        config = minimal_config()
        config["query"]["segments"] = [
            {"executionOrder": 3, "sql": "SELECT * FROM segment1_1"},
            {"executionOrder": 1, "sql": "SELECT a FROM v1"},
            {"executionOrder": 1, "sql": "SELECT a FROM v1", "postFilters": [{"column": "a", "min": 2}]},
        ]
        job = parse_job_config(support.canonical(config), cleanroom="r", run=RUN)
        self.assertEqual([s.view for s in job.query.segments], ["segment1_1", "segment1_2", "segment3"])
        self.assertEqual(job.query.segments[1].post_filters[0].min, 2.0)
        self.assertEqual(job.datasets[0].allowed_fields, ["a"])

    def test_bad_configs_name_the_field(self):
        c = minimal_config()
        c["datasets"][0]["allowedFields"] = ["a", "ssn"]
        self.assert_refused(c, "datasets[0].allowedFields[1]", "ssn", "not a column")
        c = minimal_config()
        c["datasets"][0]["schema"][1]["type"] = "decimal"
        self.assert_refused(c, "datasets[0].schema[1].type", "decimal")
        c = minimal_config()
        c["datasets"][0]["format"] = "avro"
        self.assert_refused(c, "datasets[0].format", "avro")
        c = minimal_config()
        c["datasets"][0]["view"] = "segment2"
        self.assert_refused(c, "datasets[0].view", "segment")
        c = minimal_config()
        c["query"]["segments"][0]["preconditions"] = [{"view": "v1", "minRows": -1}]
        self.assert_refused(c, "query.segments[0].preconditions[0].minRows", "integer")
        c = minimal_config()
        c["query"]["segments"].append({"executionOrder": 1, "sql": "SELECT 1"})
        self.assert_refused(c, "query.segments", "last execution order")
        c = minimal_config()
        c["sink"]["allowedFields"] = []
        self.assert_refused(c, "sink.allowedFields", "empty")
        self.assert_refused(minimal_config(run="xyz"), "run", "16 lower-case hex")
        self.assert_refused(minimal_config(), "run", "not", cleanroom="r", run="fedcba9876543210")
        self.assert_refused(minimal_config(), "cleanroom", "other", cleanroom="other", run=RUN)

    def test_bytes_that_are_not_json(self):
        with self.assertRaises(RunnerError) as caught:
            parse_job_config(b"\xff{")
        self.assertEqual(caught.exception.field, "--config")


class AttestationTest(unittest.TestCase):
    def test_report_binds_the_key_and_verifies(self):
        tee = support.TeeKey()
        key = attestation.OneOffKey()
        evidence = json.loads(attestation.simulated_evidence(attestation.load_tee_key(tee.path), "ab" * 32, "cd" * 32, key.public_bytes))
        payload = base64.b64decode(evidence["payload"])
        tee.public.verify(base64.b64decode(evidence["signature"]), payload)  # raises if it does not verify
        claims = json.loads(payload)
        self.assertEqual(claims["report_data"], (hashlib.sha256(key.public_bytes).digest() + bytes(32)).hex())
        self.assertEqual((claims["measurement"], claims["host_data"], claims["debuggable"]), ("ab" * 32, "cd" * 32, False))

    def test_answers_open_only_with_their_own_info(self):
        key = attestation.OneOffKey()
        info = support.length_prefixed(b"consort-attest/v1 secret", "r", RUN, "alice-s3")
        self.assertEqual(attestation.release_info("r", RUN, "alice-s3"), info)
        sealed = support.SUITE.encrypt(b"the value", x25519.X25519PublicKey.from_public_bytes(key.public_bytes), info=info)
        answer = {"enc": base64.b64encode(sealed[:32]).decode(), "ciphertext": base64.b64encode(sealed[32:]).decode()}
        self.assertEqual(key.open(answer, info, "secret alice-s3"), b"the value")
        with self.assertRaises(RunnerError) as caught:
            key.open(answer, attestation.release_info("r", RUN, "bob-s3"), "secret bob-s3")
        self.assertEqual(caught.exception.code, "attestation_failed")
        self.assertNotIn("the value", str(caught.exception))

    def test_a_tee_key_of_the_wrong_kind_is_refused_clearly(self):
        handle, path = tempfile.mkstemp()
        os.close(handle)
        self.addCleanup(os.remove, path)
        with self.assertRaises(RunnerError) as caught:
            attestation.load_tee_key(path)
        self.assertEqual(caught.exception.field, "--tee-key")


class LocationTest(unittest.TestCase):
    def test_schemes(self):
        s3 = parse_location("s3://bucket/a/b/", "f")
        self.assertEqual((s3.kind, s3.bucket, s3.key), ("s3", "bucket", "a/b"))
        self.assertEqual(s3.child("2026-01-02", RUN).key, f"a/b/2026-01-02/{RUN}")
        az = parse_location("abfss://data@acct.dfs.core.windows.net/x/y", "f")
        self.assertEqual((az.kind, az.bucket, az.key, az.account), ("azure", "data", "x/y", "acct"))
        https = parse_location("https://acct.blob.core.windows.net/data/x", "f")
        self.assertEqual((https.bucket, https.key, https.account), ("data", "x", "acct"))
        local = parse_location("file:///srv/data/", "f")
        self.assertEqual(local.child("d", RUN).uri, f"file:///srv/data/d/{RUN}")

    def test_unsupported_and_malformed_locations_name_the_field(self):
        for uri, word in [("hdfs://nn/x", "does not read"), ("/srv/x", "no scheme"), ("file://host/x", "host"), ("s3:///x", "bucket")]:
            with self.assertRaises(RunnerError) as caught:
                parse_location(uri, "datasets[0].location")
            self.assertEqual(caught.exception.field, "datasets[0].location")
            self.assertIn(word, str(caught.exception))


class ClientTest(unittest.TestCase):
    """The server client against tiny HTTP servers: redirects are not followed, stop codes stop."""

    def serve(self, answer):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = answer(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_port}", seen

    def test_a_redirect_is_refused_and_the_bearer_goes_nowhere_else(self):
        from consort_runner.client import ServerClient
        from consort_runner.errors import ServerRefused

        def answer(path):
            if path.startswith("/elsewhere"):
                return 200, {}, b'{"execution": true}'
            return 307, {"Location": "/elsewhere"}, b""

        url, seen = self.serve(answer)
        client = ServerClient(url, "r", RUN)
        client.set_session("crs_token_value")
        with self.assertRaises(ServerRefused) as caught:
            client.check_consent()
        self.assertEqual(caught.exception.status, 307)
        self.assertEqual([p for p, _ in seen], [f"/v1/cleanrooms/r/runs/{RUN}/runner/consent"])
        self.assertNotIn("crs_token_value", repr(client) + str(caught.exception))

    def test_a_stop_code_stops_whatever_the_status(self):
        from consort_runner.client import ServerClient
        from consort_runner.errors import ConsentRefused

        body = json.dumps({"error": {"code": "run_not_live", "message": "the run was killed", "param": None}}).encode()
        url, _ = self.serve(lambda path: (403, {"Content-Type": "application/json"}, body))
        client = ServerClient(url, "r", RUN)
        with self.assertRaises(ConsentRefused) as caught:
            client.check_consent()
        self.assertEqual(caught.exception.code, "run_not_live")


class StoreChoiceTest(unittest.TestCase):
    def test_the_first_secret_shaped_as_a_key_of_the_locations_kind_is_used(self):
        from consort_runner.object_stores import AzureBlobStore, S3Store, store_for

        s3 = parse_location("s3://bucket/data", "f")
        released = {
            "note": b"plain text",
            "azure": b'{"account": "acct", "accountKey": "a2V5"}',
            "s3": b'{"endpoint": "http://127.0.0.1:1", "region": "us-east-1", "accessKeyId": "AKIA1", "secretAccessKey": "k"}',
        }
        self.assertIsInstance(store_for(s3, ["note", "azure", "s3"], released, "datasets[0]"), S3Store)
        azure = parse_location("abfs://c@acct.dfs.core.windows.net/x", "f")
        self.assertIsInstance(store_for(azure, ["note", "s3", "azure"], released, "datasets[0]"), AzureBlobStore)
        with self.assertRaises(RunnerError) as caught:
            store_for(s3, ["note", "azure"], released, "datasets[0]")
        self.assertEqual((caught.exception.code, caught.exception.field), ("missing_secret", "datasets[0].secrets"))

    def test_a_key_the_client_refuses_is_named_without_its_value(self):
        from consort_runner.object_stores import store_for

        bad = b'{"endpoint": "not a url", "accessKeyId": "AKIA1", "secretAccessKey": "never-print-me"}'
        with self.assertRaises(RunnerError) as caught:
            store_for(parse_location("s3://b/x", "f"), ["s3"], {"s3": bad}, "sink")
        self.assertEqual(caught.exception.code, "invalid_secret")
        self.assertNotIn("never-print-me", str(caught.exception))


class RedactionTest(unittest.TestCase):
    def test_secret_strings_are_scrubbed_but_addresses_kept(self):
        r = Redactor()
        r.add_secret(b'{"endpoint": "http://127.0.0.1:9", "accessKeyId": "AKIAX1", "secretAccessKey": "s3cr3t-value"}')
        r.add("crs_session_token")
        text = r.scrub("key AKIAX1 secret s3cr3t-value at http://127.0.0.1:9 with crs_session_token")
        self.assertNotIn("s3cr3t-value", text)
        self.assertNotIn("AKIAX1", text)
        self.assertNotIn("crs_session_token", text)
        self.assertIn("http://127.0.0.1:9", text)


if __name__ == "__main__":
    unittest.main()
