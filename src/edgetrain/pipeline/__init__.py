"""The DVC stages ``prepare`` -> ``train`` -> ``evaluate``: pure compute plus a thin ``run`` each."""
