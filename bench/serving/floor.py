"""The floor under every server: the model called in-process on the same batch, no HTTP, no JSON.

    python floor.py inplace --model model.ubj --batch batch.npy --seconds 2
    python floor.py tl2cgen --model codes.json --batch batch.npy --seconds 2 --lib model.so

``inplace``: ``Booster.inplace_predict`` on the float32 matrix (one thread), what edgetrain's server calls.
``tl2cgen``: the same model compiled to C by tl2cgen (gcc -O3, through treelite) and called through its
predictor (one thread); compiled once into ``--lib`` (not timed). Each call on the batch is timed over a
window of ``--seconds`` after a short warm-up. Prints one JSON line: calls, the median and p99 in
microseconds per call, and the predictions (so the bench checks they match the servers').
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def inplace(model: Path) -> Callable[[np.ndarray], np.ndarray]:
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(model))
    booster.set_param({"nthread": 1})
    return lambda x: np.asarray(booster.inplace_predict(x)).ravel()


def compiled(model: Path, lib: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tl2cgen
    import treelite
    import xgboost as xgb

    if not lib.exists():
        forest = treelite.frontend.from_xgboost(xgb.Booster(model_file=str(model)))
        tl2cgen.export_lib(
            forest, toolchain="gcc", libpath=str(lib), params={"parallel_comp": 8}, nthread=1, options=["-O3"]
        )
    predictor = tl2cgen.Predictor(str(lib), nthread=1)
    return lambda x: np.asarray(predictor.predict(tl2cgen.DMatrix(x, dtype="float32"))).ravel()


def measure(call: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, seconds: float) -> dict:
    predictions = call(batch)
    warm = time.perf_counter() + min(0.5, seconds / 4)
    while time.perf_counter() < warm:
        call(batch)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        call(batch)
        samples.append(time.perf_counter() - start)
    q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples * 99
    return {
        "calls": len(samples),
        "median_us": round(statistics.median(samples) * 1e6, 2),
        "p99_us": round(q[98] * 1e6, 2),
        "predictions": [float(v) for v in predictions],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("inplace", "tl2cgen"))
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--batch", type=Path, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--lib", type=Path)
    args = parser.parse_args()
    if args.kind == "tl2cgen" and args.lib is None:
        parser.error("tl2cgen needs --lib")
    call = inplace(args.model) if args.kind == "inplace" else compiled(args.model, args.lib)
    out = {str(path): measure(call, np.load(path), args.seconds) for path in args.batch}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
