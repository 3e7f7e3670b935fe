"""Load a YAML file into a pydantic model; every failure is one line naming the file and the key.

Reading the YAML is :func:`edgetrain.contract.yamlfile.read_yaml`'s; validating it is this module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from edgetrain.contract.yamlfile import read_yaml
from edgetrain.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

#: A required, non-empty setting (surrounding whitespace stripped).
Name = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are not silently coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<top level>"


def format_validation_error(path: Path | str, err: ValidationError) -> str:
    """The first validation problem as ``<file>: <key>: <what is wrong>`` (one line)."""
    first = err.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "missing required key"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {_location(first['loc'])}: {msg}{suffix}"


def load_model(path: Path | str, model: type[M]) -> M:
    """Validate the YAML file at ``path`` against ``model``."""
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(path, err)) from None
