"""edgetrain scoring server: XGBoost behind FastAPI/uvicorn, Azure ML custom-container compatible.

This package must stay self-contained: it is copied as-is into the container build context and imports
only numpy, xgboost, fastapi/starlette, uvicorn and orjson (relative imports inside the package).
"""
