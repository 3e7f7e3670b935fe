"""The benches' modules import each other by file name (``python bench/x.py`` puts bench/ on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
for folder in (BENCH, BENCH / "serving"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
