"""The command line spark-submit passes: --server --cleanroom --run --config --tee-key."""

import argparse
import logging
import sys

from .redaction import Redactor
from .runner import EXIT_BAD_ARGUMENTS, Options, execute


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_ARGUMENTS, f"consort-runner: {message}; see docs/cleanroom-runs.md for the arguments\n")


def parse_arguments(argv):
    parser = _Parser(prog="consort_runner_main.py", description="consort's governed clean-room runner")
    parser.add_argument("--server", required=True, help="the consort server the runner calls back (http or https)")
    parser.add_argument("--cleanroom", required=True, help="the clean room")
    parser.add_argument("--run", required=True, help="the run id (16 lower-case hex digits)")
    parser.add_argument("--config", required=True, help="the job config, standard base64 of its canonical JSON bytes")
    parser.add_argument("--tee-key", required=True, help="simulated TEE only: the Ed25519 PKCS#8 (DER) attestation key")
    args = parser.parse_args(argv)
    return Options(server=args.server, cleanroom=args.cleanroom, run=args.run, config=args.config, tee_key=args.tee_key)


def configure_logging():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[consort-runner] %(levelname)s %(message)s"))
    logger = logging.getLogger("consort_runner")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv=None) -> int:
    options = parse_arguments(sys.argv[1:] if argv is None else argv)
    configure_logging()
    return execute(options, redactor=Redactor())
