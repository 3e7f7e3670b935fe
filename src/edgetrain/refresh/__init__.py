"""Scheduled data refresh: validate new raw drops before DVC records them, then report what changed.

:mod:`edgetrain.refresh.drops` finds the drops in the Stack Hub raw container that the checked-out
``data/`` does not hold yet and validates each with prepare's own reader
(:func:`edgetrain.data.drops.read_drop`); :mod:`edgetrain.refresh.report` turns the data before and
after ``dvc update`` into aggregates only (rows per drop, per-feature mean / spread / missing rate,
population stability index, label balance) for the pull request the workflow opens.
"""
