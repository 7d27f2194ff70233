"""The entry script spark-submit runs: bad arguments fail fast and clearly, before Spark starts."""

import os
import subprocess
import sys
import unittest

from . import support

ENTRY = os.path.join(support.RUNNER_DIR, "consort_runner_main.py")


def run_entry(*args):
    return subprocess.run([sys.executable, ENTRY, *args], capture_output=True, text=True, timeout=60)


class EntryScriptTest(unittest.TestCase):
    def test_a_missing_argument_names_it(self):
        result = run_entry("--server", "http://127.0.0.1:9", "--cleanroom", "r", "--run", "0123456789abcdef")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--config", result.stderr)
        self.assertIn("--tee-key", result.stderr)

    def test_a_config_that_is_not_base64_is_refused_before_contacting_the_server(self):
        result = run_entry("--server", "http://127.0.0.1:9", "--cleanroom", "r", "--run", "0123456789abcdef",
                           "--config", "not base64!", "--tee-key", "/nonexistent")
        self.assertEqual(result.returncode, 2)
        self.assertIn("invalid_arguments: --config: the job config is not standard base64", result.stderr)

    def test_an_unreachable_server_fails_after_retries_naming_the_flag(self):
        tee = support.TeeKey()
        result = run_entry("--server", f"http://127.0.0.1:{support.free_port()}", "--cleanroom", "r",
                           "--run", "0123456789abcdef", "--config", "e30=", "--tee-key", tee.path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("server_unreachable: --server", result.stderr)


if __name__ == "__main__":
    unittest.main()
