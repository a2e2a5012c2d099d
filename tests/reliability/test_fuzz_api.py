"""Fuzz the carts API from its own OpenAPI schema with schemathesis, against the live gunicorn.

Every generated request (positive, negative and stateful sequences that follow the schema's links)
must get no 5xx, and every response must match the schema: status, content type, headers, body.
Schema mismatches already known are listed in `schemathesis-baseline.json` (each one a defect to fix,
never a server error); any new one fails the test. After fixing some, prune the baseline with
RELIABILITY_FUZZ_BASELINE=prune; record newly accepted ones with RELIABILITY_FUZZ_BASELINE=update.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import requires_django_backend

from .checks import all_stream_uuids, assert_read_model_equals_replay_and_state, assert_streams_contiguous
from .live import token_header
from .load import open_carts

BASELINE = Path(__file__).with_name("schemathesis-baseline.json")
EXAMPLES_PER_OPERATION = 20
#: What the issue asks of every response; input strictness checks are the API tests' business.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@requires_django_backend
def test_fuzzing_the_api_from_its_schema_finds_no_server_error_and_no_new_schema_mismatch(
    gunicorn_server, api_user, report_figures, tmp_path
):
    _, token = api_user
    carts = open_carts(gunicorn_server.url, token, 2)
    baseline_mode = os.environ.get("RELIABILITY_FUZZ_BASELINE", "")
    baseline = BASELINE if baseline_mode else shutil.copy(BASELINE, tmp_path / BASELINE.name)
    report = tmp_path / "schemathesis-run.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{gunicorn_server.url}/api/schema/",
        "--header",
        f"Authorization: {token_header(token)['Authorization']}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        # One worker: hypothesis describes filters with ast.parse, which CPython 3.11 can fail on when two
        # threads parse at once ("SystemError: AST constructor recursion depth mismatch"; seen in CI).
        "--workers",
        "1",
        "--seed",
        "20261123",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
        "--baseline",
        str(baseline),
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    if baseline_mode in {"update", "prune"}:
        command.append(f"--baseline-{baseline_mode}")
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280)
    output = result.stdout + result.stderr
    assert report.exists(), f"schemathesis wrote no report:\n{output[-3000:]}"
    run = json.loads(report.read_text())
    known = json.loads(Path(baseline).read_text())["entries"]
    report_figures(
        {
            "fuzz cases generated": run["test_cases"]["generated"],
            "operations": run["operations"].get("selected", run["operations"]),
            "known schema mismatches (baseline)": len(known),
            "new failures": run["baseline"]["new"],
            "errors": len(run["errors"]),
        }
    )

    assert not [entry for entry in known if entry["check"] == "not_a_server_error"], "a 5xx is never acceptable"
    assert run["errors"] == [], output[-3000:]
    if not baseline_mode:
        assert result.returncode == 0, output[-6000:]
    assert run["test_cases"]["generated"] >= 100
    # Fuzzing must not have broken anything it could reach.
    streams = all_stream_uuids()
    assert set(carts) <= set(streams)
    assert_streams_contiguous(streams)
    assert_read_model_equals_replay_and_state(streams)
