"""The storage credential broker: a job's GitHub OIDC token in, a short-lived service SAS out.

One module per concern: :mod:`~edgetrain.broker.policy` (the policy file), :mod:`~edgetrain.broker.oidc`
(token verification), :mod:`~edgetrain.broker.sas` (signing), :mod:`~edgetrain.broker.decide` (claims ->
grant), :mod:`~edgetrain.broker.server` (the Unix-socket HTTP server), :mod:`~edgetrain.broker.client` (what
a job runs) and :mod:`~edgetrain.broker.cli` (``edgetrain broker serve|credential``).
"""
