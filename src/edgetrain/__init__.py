"""edgetrain: train XGBoost at the edge."""

__version__ = "0.1.0"
