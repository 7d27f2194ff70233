"""Runs whose inputs and sinks live on real object stores: S3 (moto's server) and Azure Blob
(azurite). The runner stages inputs and uploads outputs with the keys the fake server releases.
"""

import csv
import io
import json
import os
import shutil
import tempfile
import unittest

from consort_runner.runner import EXIT_FAILED, EXIT_SUCCEEDED

from . import support
from .test_runs_local import (CUSTOMERS, PURCHASES, Harness, customers_dataset, expected_totals, job_config,
                              purchases_dataset, two_segments, write_inputs)


def csv_bytes(rows):
    return "".join(f"{i},{n},{s},{v}\n" for i, n, s, v in rows).encode()


class ObjectStoreRunsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="runner-stores-")
        cls.local_customers, cls.local_purchases = write_inputs(cls.root)
        support.spark()
        cls.s3 = support.MotoS3()
        for bucket in ("alice-data", "results"):
            cls.s3.client.create_bucket(Bucket=bucket)
        put = cls.s3.client.put_object
        put(Bucket="alice-data", Key="customers/part-a.csv", Body=csv_bytes(CUSTOMERS[:2]))
        put(Bucket="alice-data", Key="customers/more/part-b.csv", Body=csv_bytes(CUSTOMERS[2:]))
        put(Bucket="alice-data", Key="customers/_SUCCESS", Body=b"")
        # Shares the prefix's letters but not its folder: must not be read.
        put(Bucket="alice-data", Key="customers-old/stale.csv", Body=csv_bytes([(9, "Old Row", "999-99-9999", 99.0)]))

        cls.azure = support.Azurite()
        for container in ("bob-data", "results"):
            cls.azure.service.create_container(container)
        cls.azure.service.get_container_client("bob-data").upload_blob(
            "purchases/p.json", "".join(json.dumps(p) + "\n" for p in PURCHASES).encode()
        )

    @classmethod
    def tearDownClass(cls):
        cls.s3.server.stop()
        cls.azure.server.stop()
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_s3_source_and_sink(self):
        run = support.new_run_id()
        datasets = [
            customers_dataset("s3://alice-data/customers", secrets=["alice-note", "alice-s3"]),
            purchases_dataset(self.local_purchases),
        ]
        sink = {"allowedFields": ["id", "total"], "format": "parquet", "id": "results", "location": "s3://results/clean/",
                "owner": "carol", "secrets": ["carol-s3"]}
        note = b"a plain-text secret that is no storage key"
        h = Harness(self, job_config(run, datasets, two_segments(), sink),
                    secrets={"alice-note": note, "alice-s3": self.s3.secret(), "carol-s3": self.s3.secret()})
        self.assertEqual(h.execute(), EXIT_SUCCEEDED, h.log)

        prefix = f"clean/{support.today()}/{run}/"
        listed = self.s3.client.list_objects_v2(Bucket="results", Prefix=prefix).get("Contents", [])
        names = [o["Key"][len(prefix):] for o in listed]
        self.assertIn("_SUCCESS", names)
        parts = [n for n in names if n.endswith(".parquet")]
        self.assertTrue(parts, names)
        self.assertFalse([n for n in names if n.endswith(".crc")], names)
        download = tempfile.mkdtemp(dir=self.root)
        for name in parts:
            self.s3.client.download_file("results", prefix + name, os.path.join(download, name))
        written = support.spark().read.parquet(download)
        expected, _ = expected_totals()
        self.assertEqual(written.columns, ["id", "total"])
        self.assertEqual(sorted((r.id, r.total) for r in written.collect()), expected)

        end = h.end()
        self.assertEqual((end["state"], end["output"]), ("succeeded", f"s3://results/clean/{support.today()}/{run}"))
        self.assertEqual(end["rowsRead"], len(CUSTOMERS) + len(PURCHASES))  # customers-old was not read
        self.assertEqual(sorted(r for r in h.fake.routes() if r.startswith("secrets/")),
                         ["secrets/alice-note", "secrets/alice-s3", "secrets/carol-s3"])
        for secret in (support.S3_KEYS["secretAccessKey"], support.S3_KEYS["accessKeyId"], note.decode(), h.fake.session):
            self.assertNotIn(secret, h.log + json.dumps(h.fake.events))

    def test_azure_source_and_csv_sink(self):
        run = support.new_run_id()
        account = support.AZURITE_ACCOUNT
        datasets = [
            customers_dataset(self.local_customers),
            purchases_dataset(f"abfs://bob-data@{account}.dfs.core.windows.net/purchases", secrets=["bob-azure"]),
        ]
        sink = {"allowedFields": ["id", "total"], "format": "csv", "id": "results",
                "location": f"wasbs://results@{account}.blob.core.windows.net/clean", "owner": "carol",
                "secrets": ["carol-azure"]}
        h = Harness(self, job_config(run, datasets, two_segments(), sink),
                    secrets={"bob-azure": self.azure.secret(), "carol-azure": self.azure.secret()})
        self.assertEqual(h.execute(), EXIT_SUCCEEDED, h.log)

        prefix = f"clean/{support.today()}/{run}/"
        results = self.azure.service.get_container_client("results")
        names = [b.name[len(prefix):] for b in results.list_blobs(name_starts_with=prefix)]
        self.assertIn("_SUCCESS", names)
        rows = []
        for name in names:
            if name.endswith(".csv"):
                text = results.download_blob(prefix + name).readall().decode()
                rows += [(int(i), float(t)) for i, t in csv.reader(io.StringIO(text))]
        expected, _ = expected_totals()
        self.assertEqual(sorted(rows), expected)  # two columns only: 'note' was dropped
        self.assertEqual(h.end()["output"], f"{sink['location']}/{support.today()}/{run}")
        self.assertNotIn(support.AZURITE_KEY, h.log + json.dumps(h.fake.events))

    def test_a_missing_bucket_or_an_ungranted_secret_fails_naming_it_without_the_key(self):
        cases = [
            ({"alice-s3": self.s3.secret()}, "s3://no-such-bucket/customers", "source_unreadable", "NoSuchBucket"),
            ({}, "s3://alice-data/customers", "not_found", "secrets/alice-s3"),
        ]
        for secrets, location, code, detail in cases:
            with self.subTest(code=code):
                run = support.new_run_id()
                sink = {"allowedFields": ["id"], "format": "parquet", "id": "results", "location": "s3://results/failed",
                        "owner": "carol", "secrets": []}
                h = Harness(self, job_config(run, [customers_dataset(location, secrets=["alice-s3"])],
                                             [{"executionOrder": 1, "sql": "SELECT id FROM customers"}], sink),
                            secrets=secrets)
                self.assertEqual(h.execute(), EXIT_FAILED)
                failure = h.end()["failure"]
                self.assertTrue(failure.startswith(code), failure)
                self.assertIn(detail, failure)
                self.assertNotIn(support.S3_KEYS["secretAccessKey"], failure + h.log)
                self.assertFalse(self.s3.client.list_objects_v2(Bucket="results", Prefix="failed/").get("Contents"))


if __name__ == "__main__":
    unittest.main()
