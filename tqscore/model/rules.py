"""Verdict and reasons per row: the rules table (``rules.yaml`` beside this file).

A studio's nightly job needs, beside five numbers, a plain answer per clip: ``pass``,
``review`` or ``fail``, and why, in words a person can act on ("sound 5 frames (200 ms) late").
The rules live in ONE YAML table so they can be read, reviewed and overridden
(``tqscore batch --rules FILE``) without touching code; each names its signal, threshold,
verdict level and why. They run on every row, whether the reference scorer or a learned model
filled the scores: they read the signals, not the scores.

A rule's threshold is either absolute (``above`` / ``below``, in the signal's own unit) or a
percentile of real footage (``below_real_percentile`` / ``above_real_percentile``): the value
that share of real recordings lies beyond, from the robust normal fit of the real-footage
reference (``tqscore.signals.reference.Band``), so a rule at the 1st percentile fires on about
one real recording in a hundred. A rule at verdict ``pass`` is a note: its reason is given, the
verdict is not raised. Besides the row's columns a rule can read the derived quantities of
:func:`facts` (the offset in milliseconds beyond the estimator's tolerance, whether the sync
estimate is uncertain, ...). The table is parsed with pydantic through ``tqscore.config.load_yaml``.
"""

from __future__ import annotations

import math
import os
import string
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tqscore.config import ConfigModel, load_yaml
from tqscore.errors import ConfigError
from tqscore.layout import LABELS
from tqscore.model.reference import (
    FRAME_MS,
    has_speech,
    offset_beyond_tolerance_ms,
    sync_speech_needed_s,
    sync_uncertainty,
)
from tqscore.signals.columns import SIGNAL_NAMES

DEFAULT_RULES = Path(__file__).resolve().with_name("rules.yaml")

PASS, REVIEW, FAIL = "pass", "review", "fail"
VERDICTS: tuple[str, ...] = (PASS, REVIEW, FAIL)
_SEVERITY = {PASS: 0, REVIEW: 1, FAIL: 2}

# Quantities derived from the row that rules and their texts may use, beside the row's columns.
# The offset quantities exist only where the sync estimate is evidence (tqscore.model.reference.
# sync_uncertainty): an uncertain estimate never reads as a delay.
DERIVED: dict[str, str] = {
    "sync_offset_ms": "sync_offset_frames x 40 ms (positive = sound late); only from a certain sync estimate",
    "sound_late_ms": "ms by which the sound is later than the estimator's tolerance allows (0 otherwise); "
                     "only from a certain sync estimate",
    "sound_early_ms": "ms by which the sound is earlier than the estimator's tolerance allows (0 otherwise); "
                      "only from a certain sync estimate",
    "sync_offset_abs_frames": "|sync_offset_frames|; only from a certain sync estimate",
    "sync_offset_abs_ms": "|sync_offset_frames| x 40 ms; only from a certain sync estimate",
    "sync_short_speech_s": "seconds of speech (down to 0.1 s), where there is some but too little to read a sync "
                           "offset from",
    "sync_speech_needed_s": "seconds of speech (up to 0.1 s) from which this clip's sync peak would read an offset "
                            "(tqscore.model.reference.sync_speech_needed_s); where there is too little",
    "sync_search_edge": "1 where a clear sync peak sits at the edge of the search (no estimate)",
    "sync_weak_peak": "sync_confidence, where the best offset stands out less than on 95 % of real recordings",
    "face_missing_ratio": "1 - face_present_ratio",
}
# Clip metadata a rule may read besides the signal columns and the scores.
ROW_FACTS = ("duration_s", "fps", "width", "height", "frames_used")
# Names a rule's text may use besides the row's columns and DERIVED: the value tested, the real
# footage's 5th percentile, median and 95th percentile, and the rule's own limit.
TEXT_FIELDS = ("value", "low", "high", "median", "limit")

THRESHOLDS = ("above", "below", "below_real_percentile", "above_real_percentile")


class Rule(ConfigModel):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    signal: str
    verdict: Literal["pass", "review", "fail"]  # pass: a note, the verdict is not raised
    text: str = Field(min_length=1)  # str.format template: row columns, DERIVED, TEXT_FIELDS
    why: str = Field(min_length=1)
    above: float | None = None
    below: float | None = None
    below_real_percentile: float | None = Field(None, gt=0, lt=50)
    above_real_percentile: float | None = Field(None, gt=50, lt=100)
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
        return self.below_real_percentile is not None or self.above_real_percentile is not None

    def limit(self, band) -> float | None:
        """The threshold in the signal's own unit (None: a real-footage rule without a band)."""
        if self.above is not None:
            return self.above
        if self.below is not None:
            return self.below
        if band is None:
            return None
        percentile = self.below_real_percentile or self.above_real_percentile
        return band.at_z(NormalDist().inv_cdf(percentile / 100.0))

    def fires(self, value: float, band) -> bool:
        limit = self.limit(band)
        if limit is None:
            return False
        below = self.below is not None or self.below_real_percentile is not None
        return value < limit if below else value > limit


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
    from tqscore.signals.reference import reference_band

    return reference_band(name)


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
    uncertainty = sync_uncertainty(row)
    offset = out.get("sync_offset_frames")
    if offset is not None and uncertainty is None and has_speech(row):
        beyond = offset_beyond_tolerance_ms(offset)
        out["sync_offset_ms"] = offset * FRAME_MS
        out["sound_late_ms"] = max(0.0, beyond)
        out["sound_early_ms"] = max(0.0, -beyond)
        out["sync_offset_abs_frames"] = abs(offset)
        out["sync_offset_abs_ms"] = abs(offset) * FRAME_MS
    if uncertainty in ("short_speech", "needs_more_speech"):
        # to 0.1 s, down and up, so a text never reads "3.0 s of speech; ... needs 3.0 s"
        out["sync_short_speech_s"] = max(0.1, math.floor(out["speech_s"] * 10) / 10)
        out["sync_speech_needed_s"] = math.ceil(sync_speech_needed_s(row) * 10 - 1e-9) / 10
    if uncertainty == "search_edge":
        out["sync_search_edge"] = 1.0
    if uncertainty == "weak_peak":
        out["sync_weak_peak"] = out.get("sync_confidence")
    if out.get("face_present_ratio") is not None:
        out["face_missing_ratio"] = 1.0 - out["face_present_ratio"]
    return out


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
    limit = rule.limit(band)
    if limit is not None:
        fields["limit"] = limit
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
    return band(rule.signal) if rule.band_relative or any(f"{{{k}" in rule.text for k in ("low", "high", "median", "limit")) else None


def markdown_table(table: RulesTable | None = None) -> str:
    """The rules as a Markdown table (for docs/scores.md)."""
    table = table or default_rules()
    lines = ["| code | signal | fires when | verdict | reason text | why |", "|---|---|---|---|---|---|"]
    for r in table.rules:
        if r.above is not None:
            when = f"> {r.above:g}"
        elif r.below is not None:
            when = f"< {r.below:g}"
        elif r.below_real_percentile is not None:
            when = f"below the real-footage {r.below_real_percentile:g}th percentile"
        else:
            when = f"above the real-footage {r.above_real_percentile:g}th percentile"
        text = r.text.replace("|", "\\|")
        lines.append(f"| `{r.code}` | `{r.signal}` | {when} | {r.verdict} | {text} | {r.why} |")
    return "\n".join(lines)
