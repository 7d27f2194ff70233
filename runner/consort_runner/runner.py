"""One governed run, start to end: attest, re-check consent, fetch keys, read only the allowed
columns, run the segments, write only the sink's columns, and report each step as an event.
"""

import base64
import binascii
import datetime
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

from . import attestation, measurement, spark_job
from .client import ServerClient
from .config import parse_job_config
from .errors import ConsentRefused, RunnerError
from .locations import parse_location
from .object_stores import LocalFolder, store_for
from .redaction import Redactor

log = logging.getLogger("consort_runner")

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
EXIT_STOPPED = 3


@dataclass
class Options:
    server: str
    cleanroom: str
    run: str
    config: str  # standard base64 of the job config's canonical JSON bytes
    tee_key: str


def decode_config(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RunnerError(
            "invalid_arguments", "the job config is not standard base64", "--config",
            "pass the base64 of the config bytes the server built",
        ) from None


def describe_failure(error: Exception, phase: str) -> str:
    """The failure text for the end event: what failed and where, never row values."""
    if isinstance(error, RunnerError):
        return str(error)
    try:
        from pyspark.errors import AnalysisException
    except ImportError:  # pragma: no cover - pyspark is always there under spark-submit
        AnalysisException = ()
    if AnalysisException and isinstance(error, AnalysisException):
        # Compile-time errors name columns and views of the approved SQL, not data.
        first_line = (str(error).strip().splitlines() or [""])[0]
        code = "source_unreadable" if phase.startswith("reading") else "sql_error"
        return f"{code}: {phase}: {first_line[:500]}"
    # Runtime errors can quote row values (a cast, a malformed record): keep only their class.
    from_spark = type(error).__module__.startswith(("pyspark", "py4j")) or hasattr(error, "java_exception")
    code = "spark_failed" if from_spark else "internal_error"
    return f"{code}: {phase}: {error_class(error)}; the driver's log has the details"


def _condition(throwable):
    for getter in ("getCondition", "getErrorClass"):
        try:
            condition = getattr(throwable, getter)()
            if condition:
                return str(condition)
        except Exception:
            pass
    return None


def error_class(error: Exception) -> str:
    """Spark's error conditions along the cause chain, outermost first, or the innermost class name."""
    conditions = []
    first = _condition(error)
    if first:
        conditions.append(first)
    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    innermost = None
    for _ in range(20):
        if java is None:
            break
        condition = _condition(java)
        if condition and condition not in conditions:
            conditions.append(condition)
        try:
            innermost = java.getClass().getName()
            java = java.getCause()
        except Exception:
            break
    if conditions:
        return " caused by ".join(f"[{c}]" for c in conditions)
    return innermost or error.__class__.__name__


class Run:
    def __init__(self, options: Options, redactor: Redactor, spark=None, package_dir=None):
        self.options = options
        self.redactor = redactor
        self.spark = spark
        self.package_dir = package_dir
        self.client = ServerClient(options.server, options.cleanroom, options.run)
        self.key = attestation.OneOffKey()
        self.phase = "starting"
        self.rows_read = 0
        self.rows_written = 0
        self.output = None
        self.views = []
        self.released = {}

    # --- attestation -------------------------------------------------------------------------

    def attest(self, config_bytes: bytes):
        tee_key = attestation.load_tee_key(self.options.tee_key)
        measured = measurement.measure(self.package_dir) if self.package_dir else measurement.measure_running_package()
        evidence = attestation.simulated_evidence(
            tee_key, measured, measurement.host_data(config_bytes), self.key.public_bytes
        )
        sealed = self.client.attest(evidence, self.key.public_bytes)
        token = self.key.open(sealed, attestation.session_info(self.options.cleanroom, self.options.run), "session")
        try:
            session = token.decode("ascii")
        except UnicodeDecodeError:
            raise RunnerError("attestation_failed", "the session token is not ASCII", "session", "check the server") from None
        self.redactor.add(session)
        self.client.set_session(session)
        log.info("attested with measurement %s", measured)

    # --- keys and data -----------------------------------------------------------------------

    def secret(self, name: str) -> bytes:
        if name not in self.released:
            sealed = self.client.secret(name)
            value = self.key.open(
                sealed, attestation.release_info(self.options.cleanroom, self.options.run, name), f"secret {name}"
            )
            self.redactor.add_secret(value)
            self.released[name] = value
            log.info("secret %s released", name)
        return self.released[name]

    def store(self, location, secret_names, field):
        return store_for(location, secret_names, {n: self.secret(n) for n in secret_names}, field)

    def read_datasets(self, job, workdir):
        for i, dataset in enumerate(job.datasets):
            self.phase = f"reading {dataset.path} ({dataset.id})"
            location = parse_location(dataset.location, f"{dataset.path}.location")
            if location.kind == "file":
                path = spark_job.local_uri(location.path)
            else:
                path = os.path.join(workdir, "inputs", str(i))
                os.makedirs(path, mode=0o700)
                count = self.store(location, dataset.secrets, dataset.path).download_tree(location, path)
                log.info("staged %d objects of %s", count, dataset.id)
                path = spark_job.local_uri(path)
            frame = spark_job.load_dataset(self.spark, dataset, path)
            frame.createOrReplaceTempView(dataset.view)
            self.views.append(dataset.view)
            rows = spark_job.count_rows(frame)
            self.rows_read += rows
            log.info("%s: %d rows as view %s", dataset.id, rows, dataset.view)
        self.client.event({"event": "rows", "read": self.rows_read})

    def run_segments(self, job):
        """The last segment's result and its row count."""
        known_views = set(self.views)
        result, rows = None, 0
        for index, segment in enumerate(job.query.segments):
            if index:
                self.phase = f"checking consent before {segment.path}"
                self.client.check_consent()
            self.phase = f"{segment.path} (executionOrder {segment.execution_order})"
            spark_job.check_preconditions(self.spark, segment, known_views)
            result = spark_job.run_segment(self.spark, segment, known_views)
            self.views.append(segment.view)
            rows = spark_job.count_rows(result)
            log.info("%s: %d rows as view %s", segment.path, rows, segment.view)
            self.client.event({"event": "segment", "executionOrder": segment.execution_order, "rows": rows})
        return result, rows

    def write_sink(self, job, result, rows, workdir):
        """Writes the sink's columns of `result` (`rows` rows: dropping columns keeps them all)."""
        self.phase = "writing the sink"
        sink = job.sink
        frame = spark_job.sink_columns(result, sink)
        base = parse_location(sink.location, "sink.location")
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        target = base.child(today, job.run)
        store = LocalFolder() if target.kind == "file" else self.store(target, sink.secrets, "sink")
        if not store.is_empty(target):
            raise RunnerError("sink_unwritable", f"{target.uri} already holds data", "sink.location", "a run writes once; start a new run")
        self.phase = "checking consent before writing"
        self.client.check_consent()
        # Spark writes into the private folder; only a complete output is published to the sink.
        self.phase = "writing the sink"
        local = os.path.join(workdir, "output")
        spark_job.write(frame, sink.format, spark_job.local_uri(local))
        self.phase = "publishing the output"
        published = store.upload_tree(local, target)
        log.info("published %d files", published)
        self.rows_written = rows
        self.output = target.uri

    # --- the whole run -----------------------------------------------------------------------

    def end(self, state: str, failure=None):
        body = {
            "event": "end",
            "state": state,
            "rowsRead": self.rows_read,
            "rowsWritten": self.rows_written,
            "output": self.output,
            "failure": None if failure is None else self.redactor.scrub(failure),
        }
        try:
            self.client.event(body)
        except (RunnerError, ConsentRefused) as e:
            log.warning("the end event was not recorded: %s", self.redactor.scrub(str(e)))

    def execute(self, config_bytes: bytes) -> int:
        self.attest(config_bytes)
        self.client.event({"event": "start"})
        workdir = tempfile.mkdtemp(prefix="consort-run-")  # 0700: staged rows are private
        try:
            self.phase = "checking the job config"
            job = parse_job_config(config_bytes, self.options.cleanroom, self.options.run)
            # Every location is checked before any key is fetched or any row read.
            for dataset in job.datasets:
                parse_location(dataset.location, f"{dataset.path}.location")
            parse_location(job.sink.location, "sink.location")
            if self.spark is None:
                self.spark = new_spark_session(job.run)
            spark_job.harden(self.spark)
            self.phase = "checking consent before reading"
            self.client.check_consent()
            self.read_datasets(job, workdir)
            result, rows = self.run_segments(job)
            self.write_sink(job, result, rows, workdir)
        except ConsentRefused as e:
            log.warning("stopped: %s (during %s); nothing was written", e.code, self.phase)
            self.output, self.rows_written = None, 0
            self.end("stopped", f"{e.code}: during {self.phase}")
            return EXIT_STOPPED
        except Exception as e:  # every failure is reported, as text that holds no row value
            failure = describe_failure(e, self.phase)
            log.error("failed: %s", failure)
            self.output, self.rows_written = None, 0
            self.end("failed", failure)
            return EXIT_FAILED
        finally:
            self.drop_views()
            shutil.rmtree(workdir, ignore_errors=True)
        log.info("succeeded: %d rows read, %d written to %s", self.rows_read, self.rows_written, self.output)
        self.end("succeeded")
        return EXIT_SUCCEEDED

    def drop_views(self):
        if self.spark is None:
            return
        for view in self.views:
            try:
                self.spark.catalog.dropTempView(view)
            except Exception:
                pass


def new_spark_session(run: str):
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.appName(f"consort-run-{run}")
        .config("spark.sql.runSQLOnFiles", "false")
        .getOrCreate()
    )


def execute(options: Options, spark=None, package_dir=None, redactor=None) -> int:
    """Runs the job; returns the exit code (0 succeeded, 1 failed, 2 bad arguments, 3 stopped)."""
    redactor = redactor or Redactor()
    # On the logger itself, so whatever handler prints the runner's lines gets them scrubbed.
    log.addFilter(redactor)
    try:
        try:
            config_bytes = decode_config(options.config)
            run = Run(options, redactor, spark=spark, package_dir=package_dir)
        except RunnerError as e:
            log.error("%s", e)
            return EXIT_BAD_ARGUMENTS
        try:
            return run.execute(config_bytes)
        except ConsentRefused as e:
            log.warning("stopped before the run started: %s", e)
            return EXIT_STOPPED
        except RunnerError as e:
            log.error("%s", e)
            return EXIT_FAILED
    finally:
        log.removeFilter(redactor)
