"""A schema-driven fuzzer (schemathesis) against a real server: no 5xx, no answer contradicting the schema.

Both directions: schema-valid bodies must be accepted (``positive_data_acceptance``) and schema-invalid
ones refused with a 4xx (``negative_data_rejection``); every answer must match its documented status,
content type and schema; undeclared methods must get a 405 with ``Allow``. Bounded and deterministic:
a fixed seed, a few dozen examples per operation, no example database.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.serving.helpers import Server, TrainedModel, serve_context

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance,negative_data_rejection,positive_data_acceptance,unsupported_method,"
    "allow_header_conformance"
)
EXAMPLES = 25
SEED = 20261129


def fuzz(server: Server, tmp: Path) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    assert cli.exists(), f"{cli}: schemathesis (a dev dependency) is not installed; run `make install`"
    done = subprocess.run(
        [str(cli), "run", server.url + "/openapi.json", "--checks", CHECKS, "--max-examples", str(EXAMPLES),
         "--seed", str(SEED), "--generation-database", "none", "--workers", "1", "--no-color",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "20", "--max-failures", "5"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout, done.stdout[-3000:]
    assert "Traceback" not in server.log.read_text(errors="replace")


def test_fuzzer_finds_nothing(served: tuple[TrainedModel, Server], tmp_path: Path) -> None:
    _, server = served
    fuzz(server, tmp_path)


def test_fuzzer_finds_nothing_with_unknown_categories_as_missing(
    binary_model: TrainedModel, tmp_path: Path
) -> None:
    server = serve_context(binary_model.context, tmp_path, {"EDGETRAIN_UNKNOWN_CATEGORY": "missing"})
    try:
        fuzz(server, tmp_path)
    finally:
        server.stop_gracefully()
