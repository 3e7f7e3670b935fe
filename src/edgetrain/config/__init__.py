"""Typed, validated configuration: config/edge.yaml (where things live), params.yaml (how to train)."""

from edgetrain.config.edge import EdgeConfig, load_edge_config
from edgetrain.config.loader import load_model

__all__ = ["EdgeConfig", "load_edge_config", "load_model"]
