"""Azure ML entry script for the baseline: the idiomatic score.py for an XGBoost model.

``azmlinfsrv --entry_script score.py --model_dir <dir>`` calls ``init()`` once per worker and ``run()``
per request with the raw body. The body is Azure ML's ``{"input_data": {"columns": [...], "data": [[...]]}}``.
"""

import json
import os

import pandas as pd
import xgboost as xgb

model = None
features = None
categories = None


def init():
    global model, features, categories  # noqa: PLW0603 - Azure ML's init/run contract
    model_dir = os.environ["AZUREML_MODEL_DIR"]
    with open(os.path.join(model_dir, "metadata.json")) as handle:  # noqa: PTH118, PTH123
        metadata = json.load(handle)
    features = [f["name"] for f in metadata["features"]]
    categories = {f["name"]: f["categories"] for f in metadata["features"] if f["dtype"] == "category"}
    model = xgb.Booster(model_file=os.path.join(model_dir, metadata["model_file"]))  # noqa: PTH118
    model.set_param({"nthread": 1})


def run(raw_data):
    payload = json.loads(raw_data)["input_data"]
    frame = pd.DataFrame(payload["data"], columns=payload["columns"])[features]
    for name, values in categories.items():
        frame[name] = pd.Categorical(frame[name], categories=values)
    # nthread=1: one thread per worker, like the edgetrain server (the default, all cores, costs ~20 ms
    # per DMatrix on a small VM and would make the baseline look worse than it is).
    probabilities = model.predict(xgb.DMatrix(frame, enable_categorical=True, nthread=1))
    return {
        "predictions": (probabilities >= 0.5).astype(int).tolist(),
        "probabilities": probabilities.tolist(),
    }
