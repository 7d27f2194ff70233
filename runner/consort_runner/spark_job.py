"""The Spark side of a run: load datasets with their declared schema and only their allowed columns,
run the segments as queries only, apply preconditions and post-filters, write the sink's columns.

Spark is imported here only, so the rest of the runner (and its argument errors) starts fast.
"""

import logging

from .errors import RunnerError

log = logging.getLogger("consort_runner")

SPARK_TYPES = {
    "string": "StringType",
    "integer": "IntegerType",
    "long": "LongType",
    "number": "DoubleType",
    "boolean": "BooleanType",
    "date": "DateType",
    "timestamp": "TimestampType",
}
# Functions that reach outside the data (reflection calls any static Java method).
DENIED_FUNCTIONS = ("reflect(", "java_method(")


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def local_uri(path: str) -> str:
    """A local path as a file: URI, so a cluster whose default filesystem is HDFS still reads it here."""
    return "file://" + path


def harden(spark):
    """Session settings a governed run needs: SQL may not read files by path (csv.`/path`)."""
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    # PySpark logs each SQL error with its whole JVM trace; the runner reports the error itself.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)


def schema_of(dataset):
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, getattr(T, SPARK_TYPES[f.type])(), True) for f in dataset.schema])


def load_dataset(spark, dataset, path: str):
    """The dataset at `path` (a folder or file Spark reads) with only its allowed columns."""
    reader = spark.read.schema(schema_of(dataset)).option("recursiveFileLookup", "true")
    # A malformed record fails the run instead of silently becoming nulls.
    if dataset.format == "csv":
        frame = reader.option("header", "false").option("mode", "FAILFAST").csv(path)
    elif dataset.format == "json":
        frame = reader.option("mode", "FAILFAST").json(path)
    else:
        frame = reader.parquet(path)
    # The projection is the boundary: the view's plan exposes no other column to any SQL.
    return frame.select(*[quoted(name) for name in dataset.allowed_fields])


def check_is_query(spark, sql: str, field: str):
    """Refuses anything but one query: spark.sql runs DDL and commands eagerly, so check first."""
    try:
        spark._jsparkSession.sessionState().sqlParser().parseQuery(sql)
    except Exception as e:
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise RunnerError(
            "sql_not_a_query", f"the SQL is not a single query ({first_line[:300]})", field,
            "write one SELECT (or WITH ... SELECT) statement without a trailing ';'",
        ) from None


def check_functions(frame, field: str):
    plan = frame._jdf.queryExecution().analyzed().toString()
    for name in DENIED_FUNCTIONS:
        if name in plan:
            raise RunnerError("sql_not_allowed", f"the SQL calls {name[:-1]}, which a clean room does not allow", field, "remove the call")


def count_rows(frame) -> int:
    return int(frame.count())


def run_segment(spark, segment, known_views):
    """One segment's result (post-filtered), registered as its view."""
    from pyspark.sql import functions as F

    sql_field = f"{segment.path}.sql"
    check_is_query(spark, segment.sql, sql_field)
    frame = spark.sql(segment.sql)
    check_functions(frame, sql_field)
    for post_filter in segment.post_filters:
        if post_filter.column not in frame.columns:
            raise RunnerError(
                "invalid_query", f"the segment's result has no column {post_filter.column!r} (it has {frame.columns})",
                f"{post_filter.path}.column", "filter on a column the SQL returns",
            )
        frame = frame.filter(F.col(quoted(post_filter.column)) >= F.lit(post_filter.min))
    frame.createOrReplaceTempView(segment.view)
    known_views.add(segment.view)
    return frame


def check_preconditions(spark, segment, known_views):
    for pre in segment.preconditions:
        if pre.view not in known_views:
            raise RunnerError(
                "invalid_query", f"view {pre.view!r} is neither an input nor an earlier segment",
                f"{pre.path}.view", f"name one of {sorted(known_views)}",
            )
        rows = count_rows(spark.table(quoted(pre.view)))
        if rows < pre.min_rows:
            raise RunnerError(
                "precondition_failed", f"view {pre.view} holds {rows} rows, fewer than minRows {pre.min_rows}",
                pre.path, "the run may not go on with so few rows",
            )


def sink_columns(frame, sink):
    """The result's columns the sink allows (names compare exactly); the rest are dropped."""
    kept = [c for c in frame.columns if c in sink.allowed_fields]
    dropped = [c for c in frame.columns if c not in sink.allowed_fields]
    if len(set(kept)) != len(kept):
        raise RunnerError("invalid_query", f"the result has duplicate columns among {kept}", "query.segments", "alias them apart")
    if not kept:
        raise RunnerError(
            "invalid_query", f"the result has none of the sink's allowed columns {sink.allowed_fields} (it has {frame.columns})",
            "sink.allowedFields", "return at least one allowed column",
        )
    if dropped:
        log.info("dropping result columns the sink does not allow: %s", dropped)
    return frame.select(*[quoted(c) for c in kept])


def write(frame, sink_format: str, path: str):
    writer = frame.write.mode("errorifexists")
    if sink_format == "csv":
        writer.option("header", "false").csv(path)
    elif sink_format == "json":
        writer.json(path)
    else:
        writer.parquet(path)
