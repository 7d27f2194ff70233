"""Whole runs on local files (CSV and JSON in, parquet or JSON out) through the real runner, real
Spark and the fake consort server: the data path, the column boundary, preconditions,
post-filters, consent withdrawn mid-run, and SQL that tries to reach past its views.
"""

import base64
import json
import os
import shutil
import tempfile
import unittest

from consort_runner.runner import EXIT_FAILED, EXIT_STOPPED, EXIT_SUCCEEDED, Options, execute

from . import support

CUSTOMERS = [  # alice's: id, name, ssn, spend; she allows only id and spend
    (1, "Annabel Quist", "111-11-1111", 10.0),
    (2, "Bogdan Roux", "222-22-2222", 3.5),
    (3, "Cyrille Tamm", "333-33-3333", 7.0),
    (4, "Dagny Uhl", "444-44-4444", 1.0),
]
PURCHASES = [  # bob's: id, amount, card; he allows only id and amount
    {"id": 1, "amount": 6.0, "card": "4111-0000-0000-0001"},
    {"id": 2, "amount": 2.0, "card": "4111-0000-0000-0002"},
    {"id": 3, "amount": 20.0, "card": "4111-0000-0000-0003"},
    {"id": 5, "amount": 9.0, "card": "4111-0000-0000-0005"},
]
RAW_VALUES = [c[2] for c in CUSTOMERS] + [p["card"] for p in PURCHASES] + [c[1] for c in CUSTOMERS]


def write_inputs(root):
    customers = os.path.join(root, "customers")
    os.makedirs(os.path.join(customers, "more"))
    with open(os.path.join(customers, "part-a.csv"), "w") as f:
        f.writelines(f"{i},{n},{s},{v}\n" for i, n, s, v in CUSTOMERS[:2])
    with open(os.path.join(customers, "more", "part-b.csv"), "w") as f:  # nested: every file is read
        f.writelines(f"{i},{n},{s},{v}\n" for i, n, s, v in CUSTOMERS[2:])
    purchases = os.path.join(root, "purchases")
    os.makedirs(purchases)
    with open(os.path.join(purchases, "p.json"), "w") as f:
        f.writelines(json.dumps(p) + "\n" for p in PURCHASES)
    return f"file://{customers}", f"file://{purchases}"


def customers_dataset(location, secrets=()):
    return {
        "allowedFields": ["id", "spend"], "format": "csv", "id": "customers", "location": location, "owner": "alice",
        "schema": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"},
                   {"name": "ssn", "type": "string"}, {"name": "spend", "type": "number"}],
        "secrets": list(secrets), "view": "customers",
    }


def purchases_dataset(location, secrets=()):
    return {
        "allowedFields": ["id", "amount"], "format": "json", "id": "purchases", "location": location, "owner": "bob",
        "schema": [{"name": "id", "type": "long"}, {"name": "amount", "type": "number"}, {"name": "card", "type": "string"}],
        "secrets": list(secrets), "view": "purchases",
    }


JOIN_SQL = "SELECT c.id, c.spend, p.amount FROM customers c JOIN purchases p ON c.id = p.id"
TOTAL_SQL = "SELECT id, spend + amount AS total, 'internal' AS note FROM segment1"
MIN_TOTAL = 10.0


def expected_totals():
    """What the two segments and the post-filter should give, computed here without Spark."""
    amounts = {p["id"]: p["amount"] for p in PURCHASES}
    joined = [(i, spend + amounts[i]) for i, _, _, spend in CUSTOMERS if i in amounts]
    return sorted((i, t) for i, t in joined if t >= MIN_TOTAL), len(joined)


def job_config(run, datasets, segments, sink):
    return {
        "cleanroom": "r1", "datasets": datasets, "run": run, "sink": sink,
        "query": {"id": "q1", "segments": segments, "version": 1},
    }


def two_segments(preconditions=()):
    return [
        {"executionOrder": 1, "sql": JOIN_SQL, "preconditions": list(preconditions)},
        {"executionOrder": 2, "sql": TOTAL_SQL, "postFilters": [{"column": "total", "min": MIN_TOTAL}]},
    ]


class Harness:
    """Runs a job config through the runner in this process against a fresh fake server."""

    def __init__(self, test, config, secrets=None, fake_measurement=None, trusted_tee=None, consent=True):
        self.config_bytes = support.canonical(config)
        self.run = config["run"]
        tee = support.TeeKey()
        self.fake = support.FakeConsort(
            "r1", self.run, self.config_bytes, (trusted_tee or tee).public, secrets=secrets, measurement=fake_measurement
        )
        self.fake.consent = consent
        test.addCleanup(self.fake.close)
        self.tee = tee

    def execute(self):
        options = Options(
            server=self.fake.url, cleanroom="r1", run=self.run,
            config=base64.b64encode(self.config_bytes).decode(), tee_key=self.tee.path,
        )
        with support.CapturedLog() as captured:
            code = execute(options, spark=support.spark())
        self.log = captured.text
        return code

    def end(self):
        ends = [e for e in self.fake.events if e["event"] == "end"]
        assert len(ends) == 1, f"expected one end event, got {self.fake.events}"
        return ends[0]


class LocalRunsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="runner-local-")
        cls.customers, cls.purchases = write_inputs(cls.root)
        cls.out = os.path.join(cls.root, "out")
        support.spark()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def sink(self, fields=("id", "total"), fmt="parquet"):
        return {"allowedFields": list(fields), "format": fmt, "id": "results", "location": f"file://{self.out}",
                "owner": "carol", "secrets": []}

    def output_dir(self, run):
        return os.path.join(self.out, support.today(), run)

    def assert_nothing_written(self, harness):
        self.assertFalse(os.path.exists(self.output_dir(harness.run)), "a stopped or failed run wrote output")
        end = harness.end()
        self.assertIsNone(end["output"])
        self.assertEqual(end["rowsWritten"], 0)

    def assert_no_raw_value_leaked(self, harness):
        reported = harness.log + json.dumps(harness.fake.events)
        for value in RAW_VALUES:
            self.assertNotIn(value, reported)
        self.assertNotIn(harness.fake.session, harness.log)

    def test_happy_path_checks_joins_filters_and_writes_only_the_sink_columns(self):
        run = support.new_run_id()
        # A precondition met exactly: minRows equal to the rows there are.
        pre = [{"view": "customers", "minRows": len(CUSTOMERS)}]
        h = Harness(self, job_config(run, [customers_dataset(self.customers), purchases_dataset(self.purchases)],
                                     two_segments(preconditions=pre), self.sink()))
        self.assertEqual(h.execute(), EXIT_SUCCEEDED, h.log)
        expected, joined = expected_totals()
        self.assertLess(len(expected), joined, "the post-filter must drop a row of this data")

        written = support.spark().read.parquet(self.output_dir(run))
        self.assertEqual(written.columns, ["id", "total"])  # 'note' is outside the sink's fields
        self.assertEqual(sorted((r.id, r.total) for r in written.collect()), expected)

        kinds = [e["event"] for e in h.fake.events]
        self.assertEqual(kinds, ["start", "rows", "segment", "segment", "end"])
        self.assertEqual(h.fake.events[1]["read"], len(CUSTOMERS) + len(PURCHASES))
        self.assertEqual([(e["executionOrder"], e["rows"]) for e in h.fake.events[2:4]], [(1, joined), (2, len(expected))])
        self.assertEqual(h.end(), {
            "event": "end", "state": "succeeded", "rowsRead": len(CUSTOMERS) + len(PURCHASES),
            "rowsWritten": len(expected), "output": f"file://{self.output_dir(run)}", "failure": None,
        })
        # Consent before reading, between the two segments, before writing.
        self.assertEqual(h.fake.routes().count("consent"), 3)
        self.assertFalse(any(r.startswith("secrets/") for r in h.fake.routes()), "file:// needs no secret")
        self.assert_no_raw_value_leaked(h)

    def test_select_star_sees_only_allowed_columns_even_when_the_sink_allows_more(self):
        run = support.new_run_id()
        sink = self.sink(fields=("id", "name", "ssn", "spend"), fmt="json")
        h = Harness(self, job_config(run, [customers_dataset(self.customers)],
                                     [{"executionOrder": 1, "sql": "SELECT * FROM customers"}], sink))
        self.assertEqual(h.execute(), EXIT_SUCCEEDED, h.log)
        lines = []
        for name in sorted(os.listdir(self.output_dir(run))):
            if name.endswith(".json"):
                with open(os.path.join(self.output_dir(run), name)) as f:
                    lines += [json.loads(line) for line in f if line.strip()]
        self.assertEqual(sorted(lines, key=lambda r: r["id"]), [{"id": i, "spend": s} for i, _, _, s in CUSTOMERS])

    def test_a_column_outside_allowed_fields_cannot_be_selected(self):
        run = support.new_run_id()
        sink = self.sink(fields=("id", "ssn"))
        h = Harness(self, job_config(run, [customers_dataset(self.customers)],
                                     [{"executionOrder": 1, "sql": "SELECT id, ssn FROM customers"}], sink))
        self.assertEqual(h.execute(), EXIT_FAILED)
        end = h.end()
        self.assertEqual(end["state"], "failed")
        self.assertTrue(end["failure"].startswith("sql_error:"), end["failure"])
        self.assertIn("ssn", end["failure"])
        self.assert_nothing_written(h)
        self.assert_no_raw_value_leaked(h)

    def test_sql_cannot_read_files_by_path_define_tables_or_reflect(self):
        attempts = [
            (f"SELECT * FROM csv.`{self.customers}`", "sql_error:"),
            (f"CREATE TEMPORARY VIEW raw USING csv OPTIONS (path '{self.customers}')", "sql_not_a_query:"),
            ("SELECT id FROM customers; DROP VIEW customers", "sql_not_a_query:"),
            ("SELECT id, reflect('java.lang.System', 'getProperty', 'user.home') AS h FROM customers", "sql_not_allowed:"),
        ]
        for sql, code in attempts:
            with self.subTest(sql=sql):
                run = support.new_run_id()
                h = Harness(self, job_config(run, [customers_dataset(self.customers)],
                                             [{"executionOrder": 1, "sql": sql}], self.sink(fields=("id", "ssn", "h"))))
                self.assertEqual(h.execute(), EXIT_FAILED)
                self.assertTrue(h.end()["failure"].startswith(code), h.end()["failure"])
                self.assert_nothing_written(h)
        self.assertNotIn("raw", [t.name for t in support.spark().catalog.listTables()])

    def test_segments_sharing_an_order_get_numbered_views(self):
        run = support.new_run_id()
        segments = [
            {"executionOrder": 5, "sql": "SELECT a.id, a.spend + b.amount AS total FROM segment2_1 a JOIN segment2_2 b ON a.id = b.id",
             "postFilters": [{"column": "total", "min": MIN_TOTAL}]},
            {"executionOrder": 2, "sql": "SELECT id, spend FROM customers"},
            {"executionOrder": 2, "sql": "SELECT id, amount FROM purchases", "preconditions": [{"view": "segment2_1", "minRows": 1}]},
        ]
        h = Harness(self, job_config(run, [customers_dataset(self.customers), purchases_dataset(self.purchases)],
                                     segments, self.sink()))
        self.assertEqual(h.execute(), EXIT_SUCCEEDED, h.log)
        self.assertEqual([(e["executionOrder"], e["rows"]) for e in h.fake.events if e["event"] == "segment"],
                         [(2, len(CUSTOMERS)), (2, len(PURCHASES)), (5, len(expected_totals()[0]))])
        written = support.spark().read.parquet(self.output_dir(run))
        self.assertEqual(sorted((r.id, r.total) for r in written.collect()), expected_totals()[0])

    def test_a_malformed_record_fails_the_run_without_quoting_it(self):
        bad = os.path.join(self.root, "bad-customers")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "part.csv"), "w") as f:
            f.write("1,Annabel Quist,111-11-1111,10.0\n2,Bogdan Roux,222-22-2222,spend-was-not-a-number\n")
        run = support.new_run_id()
        h = Harness(self, job_config(run, [customers_dataset(f"file://{bad}")],
                                     [{"executionOrder": 1, "sql": "SELECT id, spend FROM customers"}],
                                     self.sink(fields=("id", "spend"))))
        self.assertEqual(h.execute(), EXIT_FAILED)
        failure = h.end()["failure"]
        # Spark parses the bad value when it first needs the column: here, writing.
        self.assertTrue(failure.startswith("spark_failed: writing the sink: ["), failure)
        self.assertIn("[MALFORMED_RECORD_IN_PARSING", failure)
        self.assertNotIn("spend-was-not-a-number", failure + h.log)
        self.assert_nothing_written(h)

    def test_an_unsupported_location_fails_before_any_key_is_fetched(self):
        run = support.new_run_id()
        datasets = [customers_dataset("s3://alice-data/customers", secrets=["alice-s3"]),
                    purchases_dataset("hdfs://namenode:8020/purchases")]
        h = Harness(self, job_config(run, datasets, [{"executionOrder": 1, "sql": "SELECT id FROM customers"}],
                                     self.sink(fields=("id",))), secrets={"alice-s3": b"{}"})
        self.assertEqual(h.execute(), EXIT_FAILED)
        failure = h.end()["failure"]
        self.assertTrue(failure.startswith("invalid_location: datasets[1].location: 'hdfs://"), failure)
        self.assertEqual([r for r in h.fake.routes() if r.startswith("secrets/")], [])
        self.assertEqual(h.end()["rowsRead"], 0)

    def test_a_missing_local_input_is_unreadable(self):
        run = support.new_run_id()
        missing = os.path.join(self.root, "no-such-folder")
        h = Harness(self, job_config(run, [customers_dataset(f"file://{missing}")],
                                     [{"executionOrder": 1, "sql": "SELECT id FROM customers"}], self.sink(fields=("id",))))
        self.assertEqual(h.execute(), EXIT_FAILED)
        failure = h.end()["failure"]
        self.assertTrue(failure.startswith("source_unreadable: reading datasets[0] (customers): [PATH_NOT_FOUND]"), failure)
        self.assert_nothing_written(h)

    def test_a_precondition_that_fails_stops_before_the_segment(self):
        run = support.new_run_id()
        pre = [{"view": "customers", "minRows": len(CUSTOMERS) + 1}]
        h = Harness(self, job_config(run, [customers_dataset(self.customers), purchases_dataset(self.purchases)],
                                     two_segments(preconditions=pre), self.sink()))
        self.assertEqual(h.execute(), EXIT_FAILED)
        end = h.end()
        self.assertTrue(end["failure"].startswith("precondition_failed: query.segments[0].preconditions[0]"), end["failure"])
        self.assertIn(f"holds {len(CUSTOMERS)} rows", end["failure"])
        self.assertNotIn("segment", [e["event"] for e in h.fake.events])
        self.assert_nothing_written(h)

    def test_consent_withdrawn_between_segments_or_before_writing_stops_and_writes_nothing(self):
        for after_segment, segments_run in [(1, [1]), (2, [1, 2])]:
            with self.subTest(withdrawn_after_segment=after_segment):
                run = support.new_run_id()
                h = Harness(self, job_config(run, [customers_dataset(self.customers), purchases_dataset(self.purchases)],
                                             two_segments(), self.sink()))

                def withdraw(event, fake=h.fake, order=after_segment):
                    if event["event"] == "segment" and event["executionOrder"] == order:
                        fake.consent = False

                h.fake.on_event = withdraw
                self.assertEqual(h.execute(), EXIT_STOPPED)
                end = h.end()
                self.assertEqual(end["state"], "stopped")
                self.assertTrue(end["failure"].startswith("consent_withdrawn"), end["failure"])
                self.assertEqual([e["executionOrder"] for e in h.fake.events if e["event"] == "segment"], segments_run)
                self.assert_nothing_written(h)

    def test_consent_withdrawn_before_the_run_refuses_attestation(self):
        run = support.new_run_id()
        h = Harness(self, job_config(run, [customers_dataset(self.customers)],
                                     [{"executionOrder": 1, "sql": "SELECT id FROM customers"}], self.sink()), consent=False)
        self.assertEqual(h.execute(), EXIT_STOPPED)
        self.assertEqual(h.fake.events, [])
        self.assertFalse(os.path.exists(self.output_dir(run)))

    def test_an_untrusted_tee_key_or_another_measurement_gets_no_session(self):
        config = job_config(support.new_run_id(), [customers_dataset(self.customers)],
                            [{"executionOrder": 1, "sql": "SELECT id FROM customers"}], self.sink())
        for kwargs, refusal in [({"trusted_tee": support.TeeKey()}, "attestation_failed"),
                                ({"fake_measurement": "00" * 32}, "measurement_not_allowed")]:
            with self.subTest(refusal=refusal):
                h = Harness(self, config, **kwargs)
                self.assertEqual(h.execute(), EXIT_FAILED)
                self.assertEqual(h.fake.calls, [("POST", "attest", 403)])
                self.assertIn(refusal, h.log)
                self.assertEqual(h.fake.events, [])


if __name__ == "__main__":
    unittest.main()
