"""The data report's format, shared by who writes it (``edgetrain refresh report``, on the edge runner) and
who reads and renders it (``edgetrain report comment --refresh``, in the job that opens the pull request).

The report is JSON aggregates only: rows per drop, per-feature moments, histograms and PSI, label counts.
Drop names and category values come from raw data, so the reader takes them as text to escape, never markup.
"""

from __future__ import annotations

#: The hand-off file name (next to pr-train's files in the data-refresh hand-off).
FILE = "data-report.json"
#: First line of the rendered report (the pull request's body starts with it).
MARKER = "<!-- edgetrain:data-report -->"
#: The histogram bin of missing values (numeric and categorical).
MISSING = "(missing)"
#: Rows with a blank target (not in ``rows``): what ``data.missing_target: drop`` leaves out of prepare.
MISSING_TARGET = "missing_target_rows"
#: PSI bands: below moderate is stable, above major is a major shift.
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
