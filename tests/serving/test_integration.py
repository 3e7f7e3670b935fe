"""The image, minus Docker: a fresh venv from the hashed lock runs the Dockerfile's CMD from the context."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import xgboost as xgb
from tests.serving.helpers import TrainedModel, free_port, records, start_server

from edgetrain.serving.serve import command_from_context

pytestmark = pytest.mark.integration


def test_fresh_venv_from_lock_serves_the_context(binary_model: TrainedModel, tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is not on PATH (make puts the bootstrapped one there)")
        pytest.skip("uv is not installed")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    lock = binary_model.context / "requirements.lock"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "--require-hashes",
         "--only-binary", ":all:", "-r", str(lock)],
        check=True, timeout=600,
    )  # fmt: skip
    frozen = subprocess.run([uv, "pip", "freeze", "--python", str(python)], capture_output=True, text=True,
                            check=True, timeout=60).stdout  # fmt: skip
    assert "xgboost-cpu==3.2.0" in frozen
    for absent in ("pandas", "dvc", "azure-ai-ml", "scikit-learn", "nvidia-nccl"):
        assert absent not in frozen

    port = free_port()
    command = command_from_context(binary_model.context, {"PORT": str(port), "HOST": "127.0.0.1"})
    argv = [str(python), *command.argv[1:]]  # the Dockerfile CMD, with the fresh venv's python
    env = {k: v for k, v in command.env.items() if k not in {"VIRTUAL_ENV", "PYTHONHOME"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    server = start_server(argv, command.cwd, env, port, tmp_path / "server.log")
    try:
        frame = binary_model.test_frame.iloc[:40]
        response = httpx.post(server.url + "/score", json=records(frame), timeout=30)
        assert response.status_code == 200, response.text
        want = binary_model.booster.predict(xgb.DMatrix(frame, enable_categorical=True))
        np.testing.assert_array_equal(np.asarray(response.json()["probabilities"], dtype=np.float32), want)
        assert "uvloop" in frozen
        assert "httptools" in frozen
    finally:
        server.stop_gracefully()
