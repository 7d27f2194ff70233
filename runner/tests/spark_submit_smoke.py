"""A manual check, outside the unittest suite (it starts a second Spark, ~1 min): the entry script
under spark-submit, as the server's Spark backend starts it, against the fake consort server.

Run from the repository root:
  ~/.cache/consort/venvs/spark/bin/python runner/tests/spark_submit_smoke.py
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests import support  # noqa: E402
from tests.test_runs_local import (customers_dataset, job_config, purchases_dataset, two_segments,  # noqa: E402
                                   write_inputs)


def main():
    root = tempfile.mkdtemp(prefix="runner-smoke-")
    try:
        customers, purchases = write_inputs(root)
        run = support.new_run_id()
        sink = {"allowedFields": ["id", "total"], "format": "parquet", "id": "s", "location": f"file://{root}/out",
                "owner": "carol", "secrets": []}
        raw = support.canonical(job_config(run, [customers_dataset(customers), purchases_dataset(purchases)],
                                           two_segments(), sink))
        tee = support.TeeKey()
        fake = support.FakeConsort("r1", run, raw, tee.public)
        import pyspark

        spark_home = os.path.dirname(pyspark.__file__)
        env = dict(os.environ, SPARK_HOME=spark_home, PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
        result = subprocess.run(
            [os.path.join(spark_home, "bin", "spark-submit"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
             os.path.join(support.RUNNER_DIR, "consort_runner_main.py"), "--server", fake.url, "--cleanroom", "r1",
             "--run", run, "--config", base64.b64encode(raw).decode(), "--tee-key", tee.path],
            env=env, capture_output=True, text=True, timeout=600,
        )
        fake.close()
        output = result.stdout + result.stderr
        print("\n".join(line for line in output.splitlines() if line.startswith("[consort-runner]")))
        print(json.dumps(fake.events, indent=1))
        end = fake.events[-1] if fake.events else {}
        ok = result.returncode == 0 and end.get("state") == "succeeded" and fake.session not in output
        print("OK" if ok else f"FAILED (exit {result.returncode})")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
