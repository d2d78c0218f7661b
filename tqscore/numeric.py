"""The one NaN/infinity guard every stage uses before a value reaches a rule, a score or Parquet.

Signals are meant to give a real number or null with a reason; a value that is neither is a bug
upstream. It must not reach an output, and the warning (naming the file and the column) is what
finds the bug.
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger(__name__)


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None when it is missing, a bool, NaN or infinite."""
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def finite_row(row: dict, where: str = "row") -> dict:
    """``row`` with every NaN or infinite float (scalar or inside a list) replaced by None, in place.

    ``where`` names the file in the warning.
    """
    for name, value in row.items():
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            log.warning("%s: %s was %s, written as null", where, name, value)
            row[name] = None
        elif isinstance(value, (list, tuple, np.ndarray)) and len(value) and isinstance(value[0], (float, np.floating)):
            values = np.asarray(value, dtype=np.float64)
            if not np.isfinite(values).all():
                log.warning("%s: %s holds %d values that are not finite, written as nulls",
                            where, name, int((~np.isfinite(values)).sum()))
                row[name] = [float(v) if math.isfinite(v) else None for v in values]
    return row
