"""Verdict and reasons per row: the rules table (``rules.yaml`` beside this file).

A studio's nightly job needs, beside five numbers, a plain answer per clip: ``pass``,
``review`` or ``fail``, and why, in words a person can act on ("sound 5 frames (200 ms) late").
The rules live in ONE YAML table so they can be read, reviewed and overridden
(``tqscore batch --rules FILE``) without touching code; each names its signal, threshold,
verdict level and why. They run on every row, whether the reference scorer or a learned model
filled the scores: they read the signals, not the scores.

A rule's threshold is either absolute (``above`` / ``below``, in the signal's own unit) or
relative to the real-footage band of ``tqscore.signals.reference`` (``above_band`` /
``below_band``, in units of the band's width beyond its edge, the scale of
``tqscore.model.reference.outside_widths``). Besides the row's columns a rule can read the
derived quantities of :func:`facts` (the offset in milliseconds beyond the estimator's
tolerance, ...). The table is parsed with pydantic through ``tqscore.config.load_yaml``.
"""

from __future__ import annotations

import math
import os
import string
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tqscore.config import ConfigModel, load_yaml
from tqscore.errors import ConfigError
from tqscore.layout import LABELS
from tqscore.model.reference import FRAME_MS, offset_beyond_tolerance_ms, outside_widths
from tqscore.signals.columns import SIGNAL_NAMES

DEFAULT_RULES = Path(__file__).resolve().with_name("rules.yaml")

PASS, REVIEW, FAIL = "pass", "review", "fail"
VERDICTS: tuple[str, ...] = (PASS, REVIEW, FAIL)
_SEVERITY = {PASS: 0, REVIEW: 1, FAIL: 2}

# Quantities derived from the row that rules and their texts may use, beside the row's columns.
DERIVED: dict[str, str] = {
    "sync_offset_ms": "sync_offset_frames x 40 ms (positive = sound late)",
    "sound_late_ms": "ms by which the sound is later than the estimator's tolerance band allows (0 otherwise)",
    "sound_early_ms": "ms by which the sound is earlier than the estimator's tolerance band allows (0 otherwise)",
    "sync_offset_abs_frames": "|sync_offset_frames|",
    "sync_offset_abs_ms": "|sync_offset_frames| x 40 ms",
    "face_missing_ratio": "1 - face_present_ratio",
}
# Clip metadata a rule may read besides the signal columns and the scores.
ROW_FACTS = ("duration_s", "fps", "width", "height", "frames_used")
# Names a rule's text may use besides the row's columns and DERIVED: the value tested and the band.
TEXT_FIELDS = ("value", "low", "high", "median")


THRESHOLDS = ("above", "below", "above_band", "below_band", "below_median_share")


class Rule(ConfigModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    signal: str
    verdict: Literal["review", "fail"]
    text: str = Field(min_length=1)  # str.format template: row columns, DERIVED, value, low, high
    why: str = Field(min_length=1)
    above: float | None = None
    below: float | None = None
    above_band: float | None = Field(None, ge=0)
    below_band: float | None = Field(None, ge=0)
    below_median_share: float | None = Field(None, gt=0)  # value < share x the real-footage median
    # Only on rows where the VAD found speech (DNSMOS rates any audio; music is not "noisy speech").
    only_with_speech: bool = False

    @model_validator(mode="after")
    def _one_threshold(self) -> Rule:
        given = [k for k in THRESHOLDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"rule {self.code!r}: give exactly one of {', '.join(THRESHOLDS)} "
                             f"(got {given or 'none'})")
        return self

    @field_validator("text")
    @classmethod
    def _template(cls, text: str) -> str:
        try:
            list(string.Formatter().parse(text))
        except ValueError as exc:
            raise ValueError(f"not a valid text template: {exc}") from None
        return text

    @property
    def band_relative(self) -> bool:
        return self.above_band is not None or self.below_band is not None or self.below_median_share is not None

    def fires(self, value: float, band) -> bool:
        if self.above is not None:
            return value > self.above
        if self.below is not None:
            return value < self.below
        if band is None:
            return False
        if self.above_band is not None:
            return outside_widths(value, band, "high") > self.above_band
        if self.below_median_share is not None:
            return value < self.below_median_share * band.median
        return outside_widths(value, band, "low") > self.below_band


class RulesTable(ConfigModel):
    version: Literal[1] = 1
    # Verdict of a row with a score the reference could not give (the cause is among the reasons).
    null_score_verdict: Literal["pass", "review", "fail"] = REVIEW
    # Verdict of a row whose file could not be analysed (status error).
    error_verdict: Literal["review", "fail"] = FAIL
    rules: list[Rule] = Field(min_length=1)


def _template_names(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}


def _check(table: RulesTable, source, band) -> RulesTable:
    """What pydantic cannot see: signals that exist, bands that exist, texts that format."""
    known = set(SIGNAL_NAMES) | set(LABELS) | set(ROW_FACTS) | set(DERIVED)
    for i, rule in enumerate(table.rules):
        where = f"rules.{i} ({rule.code})"
        if rule.signal not in known:
            raise ConfigError(f"{where}: unknown signal {rule.signal!r} (a signal column, a score, one of "
                              f"{list(ROW_FACTS)} or one of {sorted(DERIVED)})", source)
        if rule.band_relative and band(rule.signal) is None:
            raise ConfigError(f"{where}: signal {rule.signal!r} has no real-footage band "
                              "(tqscore.signals.reference); use above/below", source)
        unknown = _template_names(rule.text) - known - set(TEXT_FIELDS)
        if unknown:
            raise ConfigError(f"{where}: text uses unknown names {sorted(unknown)}", source)
    return table


def _default_band(name: str):
    from tqscore.model.reference import _band

    return _band(name)


def load_rules(path: str | os.PathLike | None = None, band=_default_band) -> RulesTable:
    """The rules table at ``path`` (the package's own ``rules.yaml`` when None); ConfigError if bad."""
    source = DEFAULT_RULES if path is None else Path(path)
    return _check(load_yaml(source, RulesTable), source, band)


@lru_cache(maxsize=1)
def default_rules() -> RulesTable:
    return load_rules(None)


def facts(row: dict) -> dict:
    """The row's values plus :data:`DERIVED`, NaN and infinity dropped (they never reach a rule)."""
    out = {k: v for k, v in row.items() if not (isinstance(v, float) and not math.isfinite(v))}
    offset = row.get("sync_offset_frames")
    if offset is not None:
        beyond = offset_beyond_tolerance_ms(offset)
        out["sync_offset_ms"] = offset * FRAME_MS
        out["sound_late_ms"] = max(0.0, beyond)
        out["sound_early_ms"] = max(0.0, -beyond)
        out["sync_offset_abs_frames"] = abs(offset)
        out["sync_offset_abs_ms"] = abs(offset) * FRAME_MS
    if row.get("face_present_ratio") is not None:
        out["face_missing_ratio"] = 1.0 - row["face_present_ratio"]
    return out


def has_speech(row: dict) -> bool:
    speech_s, ratio = row.get("speech_s"), row.get("speech_ratio")
    return bool(speech_s) if speech_s is not None else bool(ratio)


class _Blank(dict):
    def __missing__(self, key):  # a text naming a null column shows "?" instead of failing the row
        return _Unknown()


class _Unknown:
    def __format__(self, spec: str) -> str:
        return "?"


def _text(rule: Rule, known: dict, value: float, band) -> str:
    fields = _Blank(known)
    fields["value"] = value
    if band is not None:
        fields["low"], fields["high"], fields["median"] = band.low, band.high, band.median
    body = string.Formatter().vformat(rule.text, (), fields)
    return f"{rule.code}: {body}"


def evaluate(row: dict, table: RulesTable | None = None, causes: list[str] = (), band=_default_band) -> tuple[str, list[str]]:
    """(verdict, reasons) of one output row.

    ``causes`` are the reference scorer's "code: text" for every score it could not give; they
    join the reasons at ``null_score_verdict``. Of several rules with one code, only the most
    severe that fires speaks (``sound_late`` at review and at fail gives one reason).
    """
    table = table or default_rules()
    if row.get("status") == "error":
        return table.error_verdict, [f"unreadable: {row.get('error') or 'the file could not be analysed'}"]
    known = facts(row)
    chosen: dict[str, tuple[int, str]] = {}
    order: list[str] = []
    for rule in table.rules:
        value = known.get(rule.signal)
        if rule.only_with_speech and not has_speech(row):
            continue
        if value is None or isinstance(value, (str, bytes, list)):
            continue
        value = float(value)
        rule_band = band_of(rule, band)
        if not rule.fires(value, rule_band):
            continue
        severity = _SEVERITY[rule.verdict]
        if rule.code not in chosen:
            order.append(rule.code)
        if rule.code not in chosen or severity > chosen[rule.code][0]:
            chosen[rule.code] = (severity, _text(rule, known, value, rule_band))
    reasons = [chosen[code][1] for code in order]
    severity = max((s for s, _ in chosen.values()), default=0)
    if causes:
        reasons += list(causes)
        severity = max(severity, _SEVERITY[table.null_score_verdict])
    return VERDICTS[severity], reasons


def band_of(rule: Rule, band):
    return band(rule.signal) if rule.band_relative or any(f"{{{k}" in rule.text for k in ("low", "high", "median")) else None


def markdown_table(table: RulesTable | None = None) -> str:
    """The rules as a Markdown table (for docs/scores.md)."""
    table = table or default_rules()
    lines = ["| code | signal | fires when | verdict | reason text | why |", "|---|---|---|---|---|---|"]
    for r in table.rules:
        if r.above is not None:
            when = f"> {r.above:g}"
        elif r.below is not None:
            when = f"< {r.below:g}"
        elif r.below_median_share is not None:
            when = f"< {r.below_median_share:g} x the real-footage median"
        elif r.above_band is not None:
            when = f"more than {r.above_band:g} band widths above the real-footage band"
        else:
            when = f"more than {r.below_band:g} band widths below the real-footage band"
        text = r.text.replace("|", "\\|")
        lines.append(f"| `{r.code}` | `{r.signal}` | {when} | {r.verdict} | {text} | {r.why} |")
    return "\n".join(lines)
