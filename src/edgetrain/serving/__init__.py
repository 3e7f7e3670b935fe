"""Serving: package the trained model into a container build context and score over HTTP.

``scoring_server`` is self-contained (numpy, xgboost, fastapi, uvicorn, orjson only) and is copied into the
build context as a top-level package, so the image never needs the rest of edgetrain.
"""
