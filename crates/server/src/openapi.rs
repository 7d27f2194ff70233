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
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string", "description": "Stable machine-readable code."},
                "message": {"type": "string", "description": "What is wrong and how to fix it."},
                "param": {"type": "string", "description": "The request parameter at fault."}}}}}
        }}
    })
}
