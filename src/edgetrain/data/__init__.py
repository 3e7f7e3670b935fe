"""Sample data: a deterministic AI4I-2020-style predictive-maintenance generator."""
