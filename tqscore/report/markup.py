"""The small pieces of markup every section of the page shares: escaping, numbers, badges."""

from __future__ import annotations

from html import escape

STATUS_CLASS = {"ok": "good", "no_face": "warn", "error": "bad", "pass": "good", "review": "warn", "fail": "bad"}


def e(value) -> str:
    """``value`` as text safe inside an element or a quoted attribute ("" for None)."""
    return escape("" if value is None else str(value), quote=True)


def num(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def interval(low: float | None, high: float | None, scale: float = 1.0, digits: int = 0) -> str:
    """``[low–high]`` (times ``scale``), or "" when the interval is unknown."""
    if low is None or high is None:
        return ""
    return f"[{low * scale:.{digits}f}–{high * scale:.{digits}f}]"


def badge(verdict) -> str:
    return f'<span class="badge {STATUS_CLASS.get(verdict, "")}">{e(verdict)}</span>' if verdict else ""
