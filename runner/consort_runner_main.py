"""What spark-submit runs: the governed runner (package consort_runner beside this file)."""

import sys

from consort_runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
