//! The OpenAPI 3.1 document served at `/openapi.json`.
//!
//! Written by hand next to the routes; a test requests every documented path so
//! the document cannot promise a route that does not exist.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn json_ok(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {}}})
}

fn key_params() -> Value {
    json!([
        {"name": "group", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}
    ])
}

fn pause(summary: &str, operation: &str) -> Value {
    json!({"parameters": key_params(), "post": {"summary": summary, "operationId": operation, "tags": ["scheduler"],
        "responses": {"200": json_ok("How many triggers changed state.")}}})
}

fn group_pause(summary: &str, operation: &str) -> Value {
    json!({"parameters": [{"name": "group", "in": "path", "required": true, "schema": {"type": "string"}}],
        "post": {"summary": summary, "operationId": operation, "tags": ["scheduler"],
        "responses": {"200": json_ok("How many triggers changed state.")}}})
}

/// The document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "consort",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Governed Apache Spark jobs: Quartz-compatible scheduling, Spark backends, clean rooms.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "paths": {
            "/health": {"get": {
                "summary": "Liveness: answers 200 while the server runs.",
                "operationId": "health",
                "responses": {"200": {"description": "Running.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}
            }},
            "/v1/cron/next": {"get": {
                "summary": "The next fire times of a Quartz cron expression in a time zone.",
                "operationId": "cronNext",
                "parameters": [
                    {"name": "expr", "in": "query", "required": true, "schema": {"type": "string"}, "example": "0 15 10 ? * 6L",
                     "description": "Quartz cron expression: seconds minutes hours day-of-month month day-of-week [year]."},
                    {"name": "tz", "in": "query", "schema": {"type": "string", "default": "UTC"}, "example": "Europe/Rome",
                     "description": "IANA time zone the expression is read in."},
                    {"name": "after", "in": "query", "schema": {"type": "string"}, "example": "2026-01-01T00:00:00Z",
                     "description": "Start instant (RFC 3339 or Unix seconds); fire times are strictly after it. Default: now."},
                    {"name": "count", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::cron_api::MAX_COUNT, "default": 5}}
                ],
                "responses": {
                    "200": {"description": "Fire times, fewer than `count` if the expression stops firing.",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CronNext"}}}},
                    "400": error_response("Invalid expression, zone, instant or count; the message names the field and the fix.")
                }
            }},
            "/v1/cron/explain": {"get": {
                "summary": "A plain-English description of a Quartz cron expression.",
                "operationId": "cronExplain",
                "parameters": [{"name": "expr", "in": "query", "required": true, "schema": {"type": "string"}, "example": "0 0 12 LW * ?"}],
                "responses": {
                    "200": {"description": "The explanation.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CronExplain"}}}},
                    "400": error_response("Invalid expression; the message names the field and the fix.")
                }
            }},
            "/v1/scheduler/jobs": {"get": {
                "summary": "List jobs with their last run state.", "operationId": "listJobs", "tags": ["scheduler"],
                "parameters": [{"name": "group", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": json_ok("Jobs.")}
            }},
            "/v1/scheduler/jobs/{group}/{name}": {
                "parameters": key_params(),
                "get": {"summary": "A job with its triggers and recent runs.", "operationId": "getJob", "tags": ["scheduler"],
                        "responses": {"200": json_ok("The job."), "404": error_response("No such job.")}},
                "put": {"summary": "Create or replace a job and its triggers (idempotent, one transaction).", "operationId": "putJob", "tags": ["scheduler"],
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobDefinition"}}}},
                        "responses": {"200": json_ok("The stored job."), "400": error_response("Invalid definition; the message says what to change.")}},
                "delete": {"summary": "Delete a job and its triggers.", "operationId": "deleteJob", "tags": ["scheduler"],
                           "responses": {"204": {"description": "Deleted."}, "404": error_response("No such job.")}}
            },
            "/v1/scheduler/jobs/{group}/{name}/fire": {"parameters": key_params(), "post": {
                "summary": "Fire a job now (a one-shot trigger).", "operationId": "fireJob", "tags": ["scheduler"],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "object"}}}}}},
                "responses": {"202": json_ok("Fired; the run appears in the job's runs."), "404": error_response("No such job.")}
            }},
            "/v1/scheduler/jobs/{group}/{name}/pause": pause("Pause every trigger of a job.", "pauseJob"),
            "/v1/scheduler/jobs/{group}/{name}/resume": pause("Resume every trigger of a job.", "resumeJob"),
            "/v1/scheduler/job-groups/{group}/pause": group_pause("Pause every trigger of every job in a group.", "pauseJobGroup"),
            "/v1/scheduler/job-groups/{group}/resume": group_pause("Resume a job group.", "resumeJobGroup"),
            "/v1/scheduler/triggers": {"get": {
                "summary": "List triggers with state and next/previous fire times.", "operationId": "listTriggers", "tags": ["scheduler"],
                "parameters": [{"name": "group", "in": "query", "schema": {"type": "string"}},
                               {"name": "job", "in": "query", "schema": {"type": "string"}, "description": "GROUP.NAME of a job."}],
                "responses": {"200": json_ok("Triggers.")}
            }},
            "/v1/scheduler/triggers/{group}/{name}": {
                "parameters": key_params(),
                "get": {"summary": "A trigger: state, next and previous fire times.", "operationId": "getTrigger", "tags": ["scheduler"],
                        "responses": {"200": json_ok("The trigger."), "404": error_response("No such trigger.")}},
                "put": {"summary": "Create or replace a trigger of an existing job.", "operationId": "putTrigger", "tags": ["scheduler"],
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TriggerDefinition"}}}},
                        "responses": {"200": json_ok("The stored trigger."), "400": error_response("Invalid definition.")}},
                "delete": {"summary": "Delete a trigger.", "operationId": "deleteTrigger", "tags": ["scheduler"],
                           "responses": {"204": {"description": "Deleted."}, "404": error_response("No such trigger.")}}
            },
            "/v1/scheduler/triggers/{group}/{name}/pause": pause("Pause a trigger.", "pauseTrigger"),
            "/v1/scheduler/triggers/{group}/{name}/resume": pause("Resume a trigger.", "resumeTrigger"),
            "/v1/scheduler/trigger-groups/{group}/pause": group_pause("Pause a trigger group (new triggers in it start paused).", "pauseTriggerGroup"),
            "/v1/scheduler/trigger-groups/{group}/resume": group_pause("Resume a trigger group.", "resumeTriggerGroup"),
            "/v1/scheduler/runs": {"get": {
                "summary": "Run history, newest first.", "operationId": "listRuns", "tags": ["scheduler"],
                "parameters": [
                    {"name": "job", "in": "query", "schema": {"type": "string"}, "description": "GROUP.NAME"},
                    {"name": "trigger", "in": "query", "schema": {"type": "string"}, "description": "GROUP.NAME"},
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["EXECUTING", "SUCCEEDED", "FAILED", "ABANDONED"]}},
                    {"name": "before", "in": "query", "schema": {"type": "integer"}, "description": "Only runs with a smaller id (paging)."},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}}
                ],
                "responses": {"200": json_ok("Runs."), "400": error_response("Bad filter.")}
            }},
            "/v1/scheduler/runs/{id}": {"get": {
                "summary": "One run: scheduled/fired/ended times, instance, state, error, Spark application id, log location.",
                "operationId": "getRun", "tags": ["scheduler"],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"200": json_ok("The run."), "404": error_response("No such run.")}
            }},
            "/v1/scheduler/runs/{id}/log": {"get": {
                "summary": "The end of a run's log, read from where its work ran (the Spark driver's log), for executing and ended runs: {run, max_bytes, log}.",
                "operationId": "runLog", "tags": ["scheduler"],
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}},
                    {"name": "max_bytes", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 16777216, "default": 65536}}
                ],
                "responses": {"200": json_ok("The log's end."), "404": error_response("No such run."),
                              "409": error_response("The run's kind keeps no log, or its log is gone."),
                              "503": error_response("Where the run ran cannot be reached; retry.")}
            }},
            "/v1/scheduler/runs/{id}/kill": {"post": {
                "summary": "Stop an executing run's work where it runs (kills the Spark application); the run then ends FAILED.",
                "operationId": "killRun", "tags": ["scheduler"],
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"202": json_ok("Kill requested."), "404": error_response("No such run."),
                              "409": error_response("The run already ended, or its kind cannot kill it."),
                              "503": error_response("Where the run runs cannot be reached; retry.")}
            }},
            "/v1/scheduler/instances": {"get": {
                "summary": "Scheduler instances sharing the store (cluster check-ins) and this instance's counters.",
                "operationId": "instances", "tags": ["scheduler"], "responses": {"200": json_ok("Instances.")}
            }},
            "/openapi.json": {"get": {
                "summary": "This document.",
                "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1 document."}}
            }}
        },
        "components": {"schemas": {
            "Health": {"type": "object", "required": ["status", "version"], "properties": {
                "status": {"type": "string", "enum": ["ok"]}, "version": {"type": "string"}}},
            "CronNext": {"type": "object", "required": ["expression", "timezone", "after", "explanation", "fire_times"], "properties": {
                "expression": {"type": "string"},
                "timezone": {"type": "string"},
                "after": {"type": "string", "format": "date-time"},
                "explanation": {"type": "string"},
                "fire_times": {"type": "array", "items": {"type": "object", "required": ["epoch_s", "utc", "local"], "properties": {
                    "epoch_s": {"type": "integer"},
                    "utc": {"type": "string", "format": "date-time"},
                    "local": {"type": "string", "description": "RFC 9557 zoned date-time, e.g. 2026-01-30T10:15:00-05:00[America/New_York]."}}}}}},
            "CronExplain": {"type": "object", "required": ["expression", "explanation"], "properties": {
                "expression": {"type": "string"}, "explanation": {"type": "string"}}},
            "TriggerDefinition": {"type": "object", "additionalProperties": false, "properties": {
                "name": {"type": "string", "description": "Required inside a job's `triggers`."},
                "group": {"type": "string", "description": "Defaults to the job's group."},
                "job": {"type": "object", "properties": {"group": {"type": "string"}, "name": {"type": "string"}}, "description": "Required when created on its own."},
                "description": {"type": "string"},
                "cron": {"type": "string", "description": "Quartz cron expression (one of cron, simple, once)."},
                "timezone": {"type": "string", "default": "UTC"},
                "simple": {"type": "object", "properties": {"repeat_count": {"type": ["integer", "null"]}, "interval_ms": {"type": "integer"}}},
                "once": {"type": "boolean"},
                "start_time": {"type": "string", "description": "RFC 3339 or Unix seconds; default now."},
                "end_time": {"type": "string"},
                "priority": {"type": "integer", "default": 5},
                "misfire": {"type": "string", "enum": ["smart", "fire-once-now", "do-nothing", "ignore"], "default": "smart"},
                "data": {"type": "object"}}},
            "JobDefinition": {"type": "object", "required": ["kind"], "additionalProperties": false, "properties": {
                "kind": {"type": "string", "description": "What a fire does: noop, command, spark."},
                "description": {"type": "string"},
                "data": {"type": "object", "description": "The kind's parameters."},
                "durable": {"type": "boolean", "default": false, "description": "Keep the job when it has no trigger."},
                "non_concurrent": {"type": "boolean", "default": false},
                "requests_recovery": {"type": "boolean", "default": false, "description": "Re-fire a run whose instance died."},
                "triggers": {"type": "array", "items": {"$ref": "#/components/schemas/TriggerDefinition"}}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code."},
                "message": {"type": "string", "description": "What is wrong and how to fix it."},
                "param": {"type": "string", "description": "The request parameter at fault."}}}}}
        }}
    })
}
