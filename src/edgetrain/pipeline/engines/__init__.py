"""Where the ``train`` stage's boosting runs: in this process (in memory or from external memory) or on Dask.

``local`` (this process, in memory or through ``extmem``) and ``cluster`` (Dask) take the same params and
prepared partitions and return a ``Fitted`` (``common.py``, with what every engine shares);
the stage (:mod:`edgetrain.pipeline.train`) writes the model and records its ``run_info``.
"""
