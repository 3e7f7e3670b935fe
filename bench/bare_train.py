"""The bare baseline for the ``train`` stage: what a data scientist would write by hand.

Reads the same prepared train/valid parquet with pandas (pyarrow engine), types the categorical
columns with one shared set of categories, builds the matrices ``hist`` wants (``QuantileDMatrix``,
valid sharing the training quantiles through ``ref``), trains with the same parameters and early
stopping on valid, and saves the model. No validation, no metadata, no atomic writes.

    python bench/bare_train.py --params params.yaml --prepared artifacts/prepared --out model.ubj
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import xgboost as xgb
import yaml

EVAL_METRIC = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--prepared", type=Path, default=Path("artifacts/prepared"))
    parser.add_argument("--out", type=Path, default=Path("bare_model.ubj"))
    args = parser.parse_args()

    params = yaml.safe_load(args.params.read_text())
    data, train = params["data"], params["train"]
    features, target = data["features"], data["target"]

    train_df = pd.read_parquet(args.prepared / "train.parquet", columns=[*features, target])
    valid_df = pd.read_parquet(args.prepared / "valid.parquet", columns=[*features, target])
    for name in data["categorical"]:
        dtype = pd.CategoricalDtype(sorted(train_df[name].astype(str).unique()))
        train_df[name] = train_df[name].astype(dtype)
        valid_df[name] = valid_df[name].astype(dtype)

    nthread = train["nthread"]
    dtrain = xgb.QuantileDMatrix(
        train_df[features], label=train_df[target], enable_categorical=True, nthread=nthread
    )
    dvalid = xgb.QuantileDMatrix(
        valid_df[features], label=valid_df[target], enable_categorical=True, nthread=nthread, ref=dtrain
    )
    booster = xgb.train(
        {
            "objective": train["objective"],
            "eta": train["eta"],
            "max_depth": train["max_depth"],
            "subsample": train["subsample"],
            "colsample_bytree": train["colsample_bytree"],
            "min_child_weight": train["min_child_weight"],
            "tree_method": train["tree_method"],
            "device": train["device"],
            "nthread": nthread,
            "seed": params["seed"],
            "eval_metric": EVAL_METRIC[params["task"]],
        },
        dtrain,
        num_boost_round=train["num_boost_round"],
        evals=[(dvalid, "valid")],
        early_stopping_rounds=train["early_stopping_rounds"],
        verbose_eval=False,
    )
    booster = booster[: booster.best_iteration + 1]
    booster.save_model(args.out)


if __name__ == "__main__":
    main()
