"""Release checks: what the merge ships must be exactly what the pull request recorded in dvc.lock."""
