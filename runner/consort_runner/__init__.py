"""consort's governed PySpark runner: runs a clean-room query that every owner approved, reading
only the allowed columns and writing only the sink's, while every party consents.

The protocol it follows is docs/cleanroom-runs.md; the entry point is consort_runner.cli.main.
"""
