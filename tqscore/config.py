"""One way to read what a user writes in YAML: ``load_yaml(path, Model)``.

Model configs, training hyper-parameters, rules tables: every YAML file a user can write is
parsed here into a pydantic v2 model (pydantic because it checks types and ranges on load and
says which field is wrong, which hand-written dataclass checks did one message at a time).
Models derive from :class:`ConfigModel` (``extra="forbid"``: a misspelt key is an error, not a
silently ignored setting). Every problem -- a missing file, bad YAML, an unknown or mistyped
field -- is a :class:`~tqscore.errors.ConfigError` that names the file and the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tqscore.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class ConfigModel(BaseModel):
    """Base of every user-written config: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values (lists, not tuples), as a bundle or checkpoint stores them."""
        return self.model_dump(mode="json")

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied and checked like a file would be."""
        return validate(self.model_dump() | changes, type(self), f"{type(self).__name__} with {sorted(changes)} changed")


def describe(error: ValidationError) -> str:
    """Pydantic's errors as "field.path: what is wrong (got VALUE)", joined by "; "."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            what = "unknown field"
        elif e["type"] == "missing":
            what = "required field is missing"
        else:
            what = e["msg"].removeprefix("Value error, ")
            if e["loc"]:  # whole-model checks already name the fields in their message
                what += f" (got {e['input']!r})"
        parts.append(f"{where}: {what}" if where else what)
    return "; ".join(parts)


def validate(data: Any, model: type[M], source: str | os.PathLike) -> M:
    """``model`` made from ``data``; ConfigError naming ``source`` and the bad field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc), source) from None


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of a YAML file (``{}`` for an empty file); ConfigError otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", path) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a YAML file", path) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}", path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of settings at the top level, found a {type(data).__name__}", path)
    return data


def load_yaml(path: str | os.PathLike, model: type[M]) -> M:
    """Read the YAML file ``path`` into ``model``, types and ranges checked."""
    return validate(read_yaml(path), model, path)
