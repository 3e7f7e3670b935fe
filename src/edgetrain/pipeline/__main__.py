"""``python -m edgetrain.pipeline prepare|train|evaluate``: the entry ``dvc.yaml`` runs the stages with.

The same commands as ``edgetrain prepare|train|evaluate``, but the process builds only the pipeline's
subcommands. Every project file a stage's process executes is a dependency of that stage (DVC trusts its
run cache by those hashes), so going through the full ``edgetrain`` parser would make every command
module (serving, registry, doctor, ...) a dependency: editing any of them would re-train the model.
"""

import sys

from edgetrain.cli import main

#: The only command module a stage's process loads.
STAGE_COMMANDS = ("edgetrain.pipeline.cli",)

if __name__ == "__main__":
    sys.exit(main(modules=STAGE_COMMANDS))
