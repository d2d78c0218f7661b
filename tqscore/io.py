"""Writing files so that no reader ever sees half of one, and the JSON every file's metadata uses.

Every file tqscore writes (score tables and their parts, feature records, ONNX graphs, engines,
manifests, checkpoints, reports) goes through :func:`atomic_write`: the data goes to a hidden
temporary file in the destination's folder (same file system, so the rename is atomic), is
flushed to disk, and ``os.replace`` puts it in place. A write that fails or is interrupted
removes its temporary file and leaves the previous file as it was. The standard library's
``os.replace`` is all this needs, so no library is used.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on a clean exit it replaces ``path`` atomically.

    The temporary file exists (empty) when yielded, with the permissions a plain ``open`` would
    give (mode 0o666 less the umask), so the finished file reads like any other output.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_default(value: Any) -> Any:
    """``json.dumps(..., default=json_default)``: numpy scalars as numbers, paths as strings."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store a {type(value).__name__} in JSON")
