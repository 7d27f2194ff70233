"""A small PySpark job for consort's tests and examples.

Usage: count_range.py N [ok|fail]. Prints COUNT=N; `fail` raises after counting.
"""
import sys

from pyspark.sql import SparkSession

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
mode = sys.argv[2] if len(sys.argv) > 2 else "ok"
spark = SparkSession.builder.appName("count_range").getOrCreate()
try:
    print(f"APP_ID={spark.sparkContext.applicationId}")
    print(f"COUNT={spark.range(n).count()}")
    if mode == "fail":
        raise RuntimeError("failing on purpose (mode=fail)")
finally:
    spark.stop()
