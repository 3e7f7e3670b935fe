"""Where the ``train`` stage's boosting runs: in this process (in memory or from external memory) or on Dask.

Every engine takes the same params and prepared partitions and returns a ``Fitted`` (``fitted.py``);
the stage (:mod:`edgetrain.pipeline.train`) writes the model and records its ``run_info``.
"""
