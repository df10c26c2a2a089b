"""``GET /api/openapi.json``: the API's OpenAPI 3.1 description, built from the code's own rules.

Hand-written rather than generated from handlers (aiohttp has no schema
layer), but every limit in it comes from the constants the validator uses
(``generators.request``'s ranges, the dimension keys, the languages), so a
rule changed there changes the contract too. ``tests/server/test_ops_openapi.py``
keeps it true: schemathesis drives a live server from it and checks every
response against it (no 5xx, no undeclared status, body, or content type).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from generators.dimensions import DIMENSIONS, LANGS
from generators.request import (
    AGE_RANGE,
    EXERCISES_RANGE,
    LESSONS_RANGE,
    MIN_SCORED,
    MODES,
    NAME_MAX,
    SCORE_RANGE,
    WEEKS_RANGE,
    YEAR_RANGE,
)

ERROR = {"$ref": "#/components/schemas/Error"}


def _int(bounds: tuple[int, int], description: str) -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": bounds[0],
        "maximum": bounds[1],
        "description": description,
    }


def _error(description: str, retry: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR}},
    }
    if retry:
        out["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return out


# What generators.request refuses in a name: path characters, C0/C1 controls, bidi controls.
_NAME_BAD = '/\\\\:*?"<>|\\x00-\\x1f\\x7f-\\x9f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069'
NAME_PATTERN = f"^[^{_NAME_BAD}]*[^\\s{_NAME_BAD}][^{_NAME_BAD}]*$"  # not only white space


def _plan_request() -> dict[str, Any]:
    """The request body; assessment needs three scores or more, focus takes none."""
    year = f"^{str(YEAR_RANGE[0])[:2]}[0-9]{{2}}-"
    assert YEAR_RANGE == (2000, 2099), "start_date's pattern assumes the years 2000-2099"
    return {
        "type": "object",
        "required": ["name", "mode", "age"],
        "additionalProperties": False,
        "if": {"properties": {"mode": {"const": "assessment"}}},
        "then": {
            "required": ["scores"],
            "properties": {"scores": {"minProperties": MIN_SCORED}},
        },
        "else": {"properties": {"scores": {"maxProperties": 0}}},
        "properties": {
            "name": {
                "type": "string",
                "minLength": 1,
                "maxLength": NAME_MAX,
                "pattern": NAME_PATTERN,
            },
            "mode": {"type": "string", "enum": list(MODES)},
            "age": _int(AGE_RANGE, "the child's age in years"),
            "weeks": _int(WEEKS_RANGE, "plan length"),
            "lessons_per_week": _int(LESSONS_RANGE, "lessons each week"),
            "exercises_per_lesson": _int(EXERCISES_RANGE, "exercises each lesson"),
            "scores": {
                "type": "object",
                "description": "assessment mode: score per dimension (at least three)",
                "propertyNames": {"enum": list(DIMENSIONS)},
                "additionalProperties": _int(SCORE_RANGE, "score"),
            },
            "lang": {"type": "string", "enum": list(LANGS)},
            "start_date": {
                "description": "first lesson's date, YYYY-MM-DD (blank or null: none)",
                "anyOf": [
                    {"type": "string", "format": "date", "pattern": year},
                    {"type": "string", "maxLength": 0},
                    {"type": "null"},
                ],
            },
        },
    }


def _plan_created() -> dict[str, Any]:
    props = {
        "download_url": {"type": "string"},
        "filename": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "etag": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
        "entries": {"type": "integer", "minimum": 1},
        "mode": {"type": "string", "enum": list(MODES)},
        "weeks": {"type": "integer"},
        "lessons": {"type": "integer"},
    }
    return {"type": "object", "required": list(props), "properties": props}


def _download(method: str) -> dict[str, Any]:
    zip_body = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    ok: dict[str, Any] = {"description": "the archive (whole or a range)"}
    if method == "get":
        ok["content"] = zip_body
    return {
        "summary": "Download a plan as a ZIP (Range, If-Range, If-None-Match supported)",
        "parameters": [
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": ok,
            "206": {
                "description": "one byte range",
                **({"content": zip_body} if ok.get("content") else {}),
            },
            "304": {"description": "not modified (If-None-Match matched)"},
            "404": _error("unknown or tampered link"),
            "410": _error("expired link"),
            "416": _error("range not satisfiable"),
            "503": _error("at the memory budget, or draining", retry=True),
        },
    }


def spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document: one piece, so the whole contract reads top to bottom."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "planstream", "version": "1", "description": __doc__.split("\n")[0]},
        "paths": {
            "/api/plans": {
                "post": {
                    "summary": "Create a plan link",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _plan_request()}},
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {"application/json": {"schema": _plan_created()}},
                        },
                        "400": _error("invalid input; error.field names the field"),
                        "408": _error("the body did not arrive within --body-timeout"),
                        "413": _error("body too large"),
                        "503": _error("plan builds at capacity, or draining", retry=True),
                    },
                }
            },
            "/api/plans/{token}.zip": {"get": _download("get"), "head": _download("head")},
            "/healthz": {
                "get": {
                    "summary": "Liveness and admission state",
                    "responses": {
                        "200": _status("ok"),
                        "503": _status("draining"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus text format",
                    "responses": {
                        "200": {
                            "description": "metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "field"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": ["string", "null"]},
                            },
                        }
                    },
                }
            }
        },
    }


def _status(status: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": [status]}},
    }
    return {"description": status, "content": {"application/json": {"schema": schema}}}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())


def setup_openapi_route(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
