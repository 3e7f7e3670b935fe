"""Deploy (``python bench/deploy_latency.py``): writes its ``## Deploy: ...`` section in bench/results.md.

In the rehearsal, on this machine: a trained project packaged as versions 1 and 2, each built into the real
scoring image (buildah, the base stand-in) and pushed by digest to a loopback registry (that push is the end
of ``ship``). Then, for an edge-host target on the loopback runtime: the wall time of ``edgetrain deploy``
for the first version and for the upgrade (ship to traffic on the new slot: checks, pull, start, readiness,
smoke test, front switch, lineage), and scoring latency (``--requests`` sequential requests of 1 and 100
rows, after a warm-up) through the edge-host front (systemd-socket-proxyd) against ``edgetrain serve`` of
the same build context directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from tests.image.helpers import STORAGE, committed_project, edgetrain  # noqa: E402
from tests.rehearsal import base_image  # noqa: E402
from tests.rehearsal.registry import LoopbackRegistry  # noqa: E402
from tests.rollout.helpers import package, register, write_config  # noqa: E402
from tests.serving.helpers import make_frame, records, serve_context  # noqa: E402

from edgetrain.serving.image import Buildah  # noqa: E402
from edgetrain.storage.azurite import free_port  # noqa: E402
from scale import write_section  # noqa: E402 - bench/ is not a package

SECTION = "## Deploy: ship to traffic, and latency through the edge-host unit"
log = logging.getLogger("bench.deploy")


def ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def latency(url: str, body: list[dict], n: int) -> tuple[float, float]:
    with httpx.Client(timeout=60) as client:
        for _ in range(20):
            client.post(url, json=body).raise_for_status()
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            client.post(url, json=body).raise_for_status()
            samples.append(time.perf_counter() - started)
    return ms(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    storage = Buildah.from_env(root=STORAGE, env={})
    standin = base_image.prepare(storage, base_image.CACHE)
    with (
        tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp,
        LoopbackRegistry(Path(tmp) / "reg") as reg,
    ):
        project = committed_project(Path(tmp) / "repo")
        images, contexts = {}, {}
        for n in ("1", "2"):
            context = package(project, n)
            register(Path(tmp) / "models", context, int(n))
            root = ["--storage-root", str(STORAGE)]
            built = edgetrain(
                "image", "build", "--context", str(context), *root, *standin.build_args(), cwd=project.root
            )
            assert built.returncode == 0, built.stderr
            ref = context.parent / f"{n}.ref"
            pushed = edgetrain("image", "push", "--context", str(context), *root, "--registry", reg.address,
                               "--digest-file", str(ref), cwd=project.root)  # fmt: skip
            assert pushed.returncode == 0, pushed.stderr
            images[n], contexts[n] = ref.read_text().strip(), context
        port = free_port()
        target = {"name": "edge-vm", "kind": "edge-host", "runtime": "loopback", "port": port,
                  "slot_ports": [free_port(), free_port()],
                  "state_dir": str(Path(tmp) / "state")}  # fmt: skip
        config = write_config(project, [target], Path(tmp) / "models")
        env = {"EDGETRAIN_CONTAINERS_ROOT": str(STORAGE)}
        seconds = {}
        for n in ("1", "2"):
            started = time.monotonic()
            done = edgetrain("deploy", "--config", str(config), "--target", "edge-vm", "--version", n,
                             "--image", images[n], cwd=project.root, env=env)  # fmt: skip
            seconds[n] = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            log.info("%s", done.stdout.strip())
        rows = {k: records(make_frame(k, 5)) for k in (1, 100)}
        front = {
            k: latency(f"http://127.0.0.1:{port}/score", body, args.requests) for k, body in rows.items()
        }
        direct_server = serve_context(contexts["2"], Path(tmp))
        try:
            direct = {
                k: latency(direct_server.url + "/score", body, args.requests) for k, body in rows.items()
            }
        finally:
            direct_server.stop_gracefully()
        stop_all(config, Path(tmp) / "state")
    text = render(seconds, front, direct, args.requests)
    write_section(text, SECTION)
    print(text)
    print(json.dumps({"seconds": seconds, "front": front, "direct": direct}))
    return 0


def stop_all(config: Path, state_dir: Path) -> None:
    """Stop the slots and the front the loopback runtime started."""
    from edgetrain.config.edge import load_edge_config
    from edgetrain.deploy.edge_host import EdgeHostTarget

    os.environ["EDGETRAIN_CONTAINERS_ROOT"] = str(STORAGE)
    target = EdgeHostTarget(load_edge_config(config).deploy.targets[0], state_dir)
    with target.locked():
        target.runtime.stop_all()  # type: ignore[attr-defined]


def render(seconds: dict, front: dict, direct: dict, n: int) -> str:
    day = datetime.now(UTC).date().isoformat()
    lines = [
        SECTION, "",
        f"`python bench/deploy_latency.py` ({day}, this 2-core shared machine; the rehearsal: the real",
        "image by digest from a loopback registry, run with `buildah run`; the front is",
        "`systemd-socket-activate` + `systemd-socket-proxyd`).",
        "",
        "| `edgetrain deploy` (edge-host, loopback runtime) | wall time |",
        "|---|---|",
        f"| first deploy (pull, start, ready, smoke, front) | {seconds['1']:.1f} s |",
        f"| upgrade: ship to traffic on the new slot | {seconds['2']:.1f} s |",
        "",
        f"Scoring latency, {n} sequential requests after 20 warm-up, keep-alive client (p50 / p95):",
        "",
        "| rows per request | through the edge-host front | `edgetrain serve` directly |",
        "|---|---|---|",
    ]  # fmt: skip
    for k in (1, 100):
        lines.append(
            f"| {k} | {front[k][0]:.2f} / {front[k][1]:.2f} ms | {direct[k][0]:.2f} / {direct[k][1]:.2f} ms |"
        )
    lines += [
        "",
        "Through the front, the request takes one more loopback TCP hop (systemd-socket-proxyd) and is",
        "served by the image's server under `buildah run` (chroot isolation); directly, by `edgetrain serve`",
        "on the host. Figures taken while other jobs shared the 2 cores: compare the columns, not the",
        "absolute values.",
        "",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
