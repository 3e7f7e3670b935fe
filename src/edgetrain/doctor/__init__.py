"""``edgetrain doctor``: say what is wrong with this checkout's setup before a pipeline run finds out.

Each check is one PASS/FAIL line; a FAIL line names what is wrong and how to fix it. Local checks
(config, DVC remotes, runner labels, tools) live in :mod:`edgetrain.doctor.local`; checks that talk to
a service (storage endpoint and API version, containers, the API-version pin inside DVC's interpreter,
the Azure ML workspace) in :mod:`edgetrain.doctor.remote`. Secrets are never printed.
"""

from edgetrain.doctor.result import Context, Result
from edgetrain.doctor.run import run_all

__all__ = ["Context", "Result", "run_all"]
