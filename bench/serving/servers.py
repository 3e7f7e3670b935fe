"""The servers the serving bench compares, each from its own environment, and the request form each needs.

- ``edgetrain``: the image CMD (``python -m scoring_server``, cwd = build context) in a venv installed from
  the hashed serving lock, exactly as the image installs it; Azure ML's ``input_data`` form.
- ``azureml``: ``azmlinfsrv`` (azureml-inference-server-http, gunicorn) as installed, with the idiomatic
  ``score.py`` next to this file; the same ``input_data`` bytes.
- ``mlserver``: MLServer with its XGBoost runtime, ``parallel_workers: 0`` and ``OMP_NUM_THREADS=1`` (one
  process, one xgboost thread, like the others);
  ``mlserver-default``: the same with MLServer's default settings (one inference worker process behind the
  front process). Open Inference (V2) protocol: one FP32 tensor, categories as the model's codes; the
  model file is a copy without XGBoost's category encoder (which MLServer's numpy input cannot use).
- ``trivial``: a server that answers a fixed 200 (``trivial.py``): the load client's own ceiling.

``start`` returns seconds from spawn to the first 200 on the scoring route; a server that cannot start
raises ``PeerUnavailableError`` with one line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness import PeerUnavailableError

HERE = Path(__file__).resolve().parent
READY_TIMEOUT = 240.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class Server:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    url: str
    form: str  # "azureml" (input_data rows) or "v2" (FP32 tensor of codes) or "any"
    python: Path
    ports: list[int] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    startup_s: float = 0.0


def base_env() -> dict[str, str]:
    drop = ("EDGETRAIN_", "VIRTUAL_ENV", "PYTHONPATH", "AZUREML_", "MLSERVER_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def post(url: str, body: bytes, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def start(server: Server, body: bytes, log: Path, timeout: float = READY_TIMEOUT) -> None:
    """Spawn; poll the scoring route with ``body`` until it answers 200 (that time is the start-up)."""
    taken = [p for p in server.ports if port_taken(p)]
    if taken:
        raise PeerUnavailableError(f"{server.name}: port {taken[0]} is taken")
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server.argv,
            cwd=server.cwd,
            env=server.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server.process = process
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
            last = tail[0][:200] if tail else str(log)
            raise PeerUnavailableError(
                f"{server.name}: exited with {process.returncode} before answering ({last})"
            )
        if post(server.url, body, timeout=5)[0] == 200:
            server.startup_s = time.perf_counter() - started
            return
        time.sleep(0.05)
    stop(server)
    raise PeerUnavailableError(f"{server.name}: no 200 from {server.url} after {timeout:.0f} s (see {log})")


def stop(server: Server) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and the workers it forked
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and every descendant (from /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(ln.split()[1]) * 1024 for ln in status.splitlines() if ln.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def edgetrain(python: Path, context: Path) -> Server:
    port = free_port()
    env = {**base_env(), "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "1"}
    argv = [str(python), "-m", "scoring_server"]  # the Dockerfile CMD, cwd = context
    return Server(
        "edgetrain", argv, context, env, f"http://127.0.0.1:{port}/score", "azureml", python, [port]
    )


def azureml(python: Path, model_dir: Path, work: Path) -> Server:
    port, health = free_port(), free_port()
    env = {**base_env(), "AZUREML_MODEL_DIR": str(model_dir), "WORKER_COUNT": "1"}
    argv = [
        str(python.parent / "azmlinfsrv"),
        "--entry_script",
        str(HERE / "score.py"),
        "--model_dir",
        str(model_dir),
        "--port",
        str(port),
        "--health_port",
        str(health),
        "--worker_count",
        "1",
    ]
    return Server("azureml", argv, work, env, f"http://127.0.0.1:{port}/score", "azureml", python, [port])


def mlserver(python: Path, codes_model: Path, work: Path, *, one_process: bool) -> Server:
    """MLServer's model repository in ``work``: settings.json and model-settings.json."""
    name = "mlserver" if one_process else "mlserver-default"
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    http, grpc, metrics = free_port(), free_port(), free_port()
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": http,
        "grpc_port": grpc,
        "metrics_port": metrics,
    }
    if one_process:
        settings["parallel_workers"] = 0
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "model.json").write_bytes(codes_model.read_bytes())
    model = {
        "name": "model",
        "implementation": "mlserver_xgboost.XGBoostModel",
        "parameters": {"uri": "./model.json"},
    }
    (folder / "model-settings.json").write_text(json.dumps(model))
    argv = [str(python.parent / "mlserver"), "start", str(folder)]
    url = f"http://127.0.0.1:{http}/v2/models/model/infer"
    # One process and one xgboost thread, like the others (its runtime leaves xgboost at every core, and
    # OpenMP's spinning threads cost most on a busy machine); the defaults variant keeps both defaults.
    env = {**base_env(), "OMP_NUM_THREADS": "1"} if one_process else base_env()
    return Server(name, argv, folder, env, url, "v2", python, [http, grpc, metrics])


def trivial(python: Path) -> Server:
    port = free_port()
    argv = [str(python), str(HERE / "trivial.py"), "--port", str(port)]
    return Server("trivial", argv, HERE, base_env(), f"http://127.0.0.1:{port}/score", "any", python, [port])


def predictions(form: str, payload: bytes) -> list[float]:
    """The probabilities (or scores) a server answered, as floats, from its response form."""
    body = json.loads(payload)
    if form == "v2":
        return [float(v) for v in body["outputs"][0]["data"]]
    for key in ("probabilities", "scores", "predictions"):
        if key in body:
            values = body[key]
            return [float(v[-1] if isinstance(v, list) else v) for v in values]
    raise ValueError(f"no predictions in {sorted(body)}")


BUILDERS: dict[str, Callable[..., Server]] = {"edgetrain": edgetrain, "azureml": azureml}
