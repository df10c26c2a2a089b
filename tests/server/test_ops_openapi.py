"""The OpenAPI contract at /api/openapi.json, kept true by schemathesis against a live server.

schemathesis (a property-based API tester) reads the document, generates
valid and invalid requests for every operation (a bounded number each) and
checks each response: no 5xx, a declared status code, a declared content
type, a body matching its schema. Its run goes into the test's own temp dir.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.ops_support import SECRET, server_process
from tests.tools import require_tool

from .conftest import write_library

MAX_EXAMPLES = 10  # per operation and phase: bounded, so make test stays short
ST_ARGS = ["--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--request-timeout", "30"]
# Left out: whether the schema is as strict as the validator (ST201/ST202). The
# validator is lenient on purpose (NFKC digits, padded dates, "5" for 5 from
# forms), which JSON Schema cannot say exactly; what the issue asks is kept:
# no 5xx, and every status, content type, header and body as declared.
EXCLUDED = "positive_data_acceptance,negative_data_rejection"


def test_openapi_document_is_3_1_and_lists_every_route(tmp_path: Path):
    with (
        server_process(["--secret", SECRET]) as server,
        urllib.request.urlopen(server.url + "/api/openapi.json", timeout=10) as resp,
    ):
        doc = json.load(resp)
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {
        "/api/plans",
        "/api/plans/{token}.zip",
        "/healthz",
        "/metrics",
        "/api/openapi.json",
    }
    body = doc["paths"]["/api/plans"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["weeks"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 52,
        "description": "plan length",
    }


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path):
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or require_tool(
        "schemathesis"
    )
    library = write_library(tmp_path / "lib", size=4096, per_level=1)
    with server_process(["--secret", SECRET, "--library", str(library)]) as server:
        run = subprocess.run(
            [
                st,
                "run",
                server.url + "/api/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                EXCLUDED,
                *ST_ARGS,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
        log = server.log()
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-6000:]
    assert "Tested: 5" in out and "No issues found" in out, out[-2000:]
    # No error of ours. (aiohttp's own parser still logs a traceback for the NUL-byte
    # header probe, before any handler runs: issue 9's malformed-HTTP item.)
    ours = [line for line in log if "ERROR planstream" in line or "internal error" in line]
    assert not ours, "\n".join(log)
