"""The project's on-disk contract, the ground floor every area builds on.

- :mod:`~edgetrain.contract.layout`: every path the pipeline, registry, release, serving, report and
  refresh read or write, declared once.
- :mod:`~edgetrain.contract.dvcfiles`: the one reader of ``dvc.lock`` and ``data.dvc``.
- :mod:`~edgetrain.contract.hashing`: md5 as DVC computes it (files and ``.dir`` listings), sha256.
- :mod:`~edgetrain.contract.git`: ``git show``, ``rev-parse``, ``status``.
- :mod:`~edgetrain.contract.yamlfile`: the one YAML loader; failures are one line naming file and key.
- :mod:`~edgetrain.contract.atomic`: atomic writes (nothing half-written after a failure).

It imports nothing from edgetrain but :mod:`edgetrain.errors` (enforced by the import-linter contract
in ``pyproject.toml``).
"""
