"""Model registry: ``edgetrain register`` and ``edgetrain models`` over a local folder or Azure ML."""
