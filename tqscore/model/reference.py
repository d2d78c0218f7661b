"""The reference scorer ``reference-4``: the five scores from the training-free signals alone.

Without engines (``tqscore batch`` with no ``--engines``) nobody has trained a model, so the
five score columns come from fixed formulas over one row's signals. Each score is built in two
steps that a person can check:

1. **Evidence**: named grades on the 1-5 scale, each from one signal (``evidence``). A signal
   people judge in one direction (more lip motion while speaking, more head motion, a steadier
   face) is graded by where it lies in the real-footage distribution (``real_grade``): a value
   at the real median grades 4.8, at the real 5th percentile 3 ("fair"), further out less, and
   the ordering is kept everywhere, so two clips on the same side of the median still rank.
   The four head ranges are first read at one common duration (``comparable_value``), since a
   range over a longer clip is wider.
   Offsets are graded on ITU-R BT.1359-1; DNSMOS is already a MOS; shares of frozen or
   faceless frames take their share of the scale.
2. **Combination**: a score is the ``weights``-weighted mean of its present grades, except that
   a grade named in ``CAPS`` (the sync offset) caps the mean instead of joining it: a clear
   delay is a defect however well the lips move.

Every constant is one of: a published standard, a scale that already predicts human ratings,
the real-footage reference (``tqscore.signals.reference``, 31 real recordings), or a weight
whose reason is given beside it. ``docs/scores.md`` derives each formula and works one example;
``benchmarks/validity.py`` measures the scores against human judgements and real footage.
A score is None only with a stated cause (no face, no audio, no speech), returned beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tqscore.layout import FPS, LABELS
from tqscore.numeric import finite_or_none
from tqscore.signals.sync import SyncConfig

MODEL_ID = "reference-4"

# sync_offset_frames counts frames of 40 ms whatever the clip's own rate (tqscore.signals.columns).
FRAME_MS = 1000.0 / FPS

# ITU-R BT.1359-1 (1998), "considering g)": subjective evaluations put the detectability
# thresholds at sound 45 ms early / 125 ms late and the acceptability thresholds at 90 ms early /
# 185 ms late. Its Figure 1 draws them on the BT.500 five-grade impairment scale as the points
# where the mean grade has fallen by 0.5 (detectability) and 1.5 (acceptability) from the
# undetectable plateau: grades 4.5 and 3.5 here.
DETECT_EARLY_MS, DETECT_LATE_MS = 45.0, 125.0
ACCEPT_EARLY_MS, ACCEPT_LATE_MS = 90.0, 185.0
GRADE_DETECT, GRADE_ACCEPT = 4.5, 3.5

# A sync estimate from less speech than the estimator's own floor is no evidence: below
# SyncConfig.min_span_s (3 s) own audio and another utterance's scored alike (1.6-s and 2.6-s
# all-speech cuts, tqscore/signals/sync.py). An offset at the edge of the search (+/-15 frames)
# is no estimate either: the true peak lies outside the searched range or nowhere.
MIN_CONFIDENCE_SPEECH_S = SyncConfig.min_span_s
SEARCH_EDGE_FRAMES = SyncConfig.max_offset

# Above that floor an offset is read only from a peak that audio unrelated to the lips rarely
# reaches with as much speech: sync_confidence >= SYNC_PEAK_SCALE / sqrt(speech_s). The peak of
# an unrelated audio's curve is the spread of a mean over the clip's windows, which shrinks as
# 1 / sqrt(their number), i.e. of the speech; SYNC_PEAK_SCALE is the 99th percentile of
# sync_confidence x sqrt(speech_s) over 3.5-20-s cuts of the real recordings in ../shared read
# with audio unrelated to their lips (the same recording's 2.5 s on, and another recording's):
# `python benchmarks/sync_short.py --frames DIR` (3016 readings: 0.404; docs/scores.md,
# "Uncertain sync"). Read with their own audio, 12 % of such cuts of real recordings gave a
# certain offset beyond the tolerance under the estimator's floor alone; with this peak, 0.8 %.
SYNC_PEAK_SCALE = 0.41

# The real 5th percentile grades 3, the middle of the five-grade scale: z = -1.645 is the 5th
# percentile of a normal distribution, so the grade is 1 + 4 Phi(z + 1.645) (module docstring).
Z_FAIR = 1.6449

# A range over a longer stretch of the same motion is wider, so the four head ranges are compared
# at one duration: a clip's range is read as the range it would show over REFERENCE_DURATION_S,
# the median duration (signal_span_s) of the 31 real recordings behind the reference, so that the
# middle of the reference moves least. How real ranges grow, measured on windows of 2-30 s cut
# from those recordings (one intercept per recording, so long recordings do not stand for long
# windows): range ~ T^0.293 over 2-8 s and T^0.085 over 8-30 s (the growth slows as the
# speaker's repertoire of poses is used up); the four ranges grow alike (0.20-0.28 over 2-30 s,
# within what 30 recordings can tell apart), so one exponent per side serves all four.
# `python benchmarks/head_ranges.py --frames DIR` (DIR: the recordings' dense passes).
RANGE_SIGNALS = ("head_yaw_range_deg", "head_pitch_range_deg", "head_roll_range_deg", "head_translation_iod")
REFERENCE_DURATION_S = 7.32
RANGE_GROWTH_SHORT, RANGE_GROWTH_LONG = 0.293, 0.085

# Directions: "higher" = more is better, "lower" = less is better, "both" = the real median is best.
# (grade name, signal, direction) per label; the weights are in DEFAULT_WEIGHTS.
LIP_EVIDENCE = (
    ("mouth_speech", "mouth_motion_speech", "higher"),
    ("follows_audio", "sync_confidence", "higher"),
    ("onsets", "sync_open_loudness_corr", "higher"),
)
EXPRESSION_EVIDENCE = (
    ("head_speed", "head_rotation_speed_dps", "higher"),
    ("head_yaw", "head_yaw_range_deg", "higher"),
    ("head_pitch", "head_pitch_range_deg", "higher"),
    ("head_roll", "head_roll_range_deg", "higher"),
    ("head_shift", "head_translation_iod", "higher"),
    ("head_still", "head_still_ratio", "lower"),
    ("blinks", "blink_rate_per_min", "higher"),
    ("brows", "brow_motion", "higher"),
    ("face_changes", "expression_variability", "higher"),
)
PICTURE_EVIDENCE = (
    ("steady", "landmark_jitter", "lower"),
    ("face_sharp", "face_sharpness", "higher"),
    ("mouth_sharp", "mouth_sharpness", "higher"),
    ("mouth_vs_face", "mouth_face_sharpness_ratio", "higher"),
    ("blocks", "blockiness", "lower"),
    ("flicker", "temporal_flicker", "lower"),
)

# Grades that cap their label's weighted mean instead of joining it.
CAPS: dict[str, tuple[str, ...]] = {"lip_sync": ("offset",)}

# The weight of each named grade per label (non-negative; a score is their weighted mean over the
# grades present). Reasons (agreements: benchmarks/validity.py, docs/validity.md):
# - lip_sync: the two things a viewer sees, whether the lips move while speech sounds
#   (mouth_speech) and when (lag: the offset against the real recordings' own lead of mouth over
#   sound), weigh equally; whether the mouth follows this voice at all (CCA confidence, onset
#   agreement) is weaker evidence alone and weighs a third each.
# - expression: head motion (five grades and the still share) is what the judged question asks
#   and what generated heads lack; brows, blinks and freezes each weigh as one head grade.
#   expression_variability is not counted: it moves with the lips, which lip_sync grades.
# - cross_modal: moving with speech, quiet in silence, in time, following this voice: equal weights.
# - overall: the picture alone (sharpness, coding blocks, flicker, freezes, face presence), each
#   grade weighted equally. The four other scores are in the evidence at weight 0: people judge
#   the picture apart from sync and motion (docs/validity.md). So is steadiness (landmark_jitter):
#   it rises with real head motion (17 of the study's 20 generated clips jitter less than the real
#   recording of the same person) and blur lowers it; as a picture grade it would rank real
#   footage below generated.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "lip_sync": {"mouth_speech": 1.0, "lag": 1.0, "follows_audio": 1 / 3, "onsets": 1 / 3},
    "expression": {**{name: 1.0 for name, _, _ in EXPRESSION_EVIDENCE}, "face_changes": 0.0, "frozen": 1.0},
    "audio_quality": {"dnsmos_ovrl": 1.0},
    "cross_modal": {"mouth_speech": 1.0, "mouth_silence": 1.0, "lag": 1.0, "follows_audio": 1.0, "onsets": 1.0},
    "overall": {**{name: 1.0 for name, _, _ in PICTURE_EVIDENCE}, "steady": 0.0, "frozen": 1.0,
                "face_present": 1.0, "lip_sync": 0.0, "expression": 0.0, "audio_quality": 0.0, "cross_modal": 0.0},
}


def _default_band(name: str):
    from tqscore.signals.reference import reference_band

    return reference_band(name)


# --------------------------------------------------------------------------------------------
# What a row says about speech and sync (one definition, read by the scorer and the rules)


def has_speech(row: dict) -> bool:
    """The file has audio and Silero VAD found speech in it."""
    if row.get("has_audio") is False:
        return False
    speech_s = finite_or_none(row.get("speech_s"))
    if speech_s is not None:
        return speech_s > 0
    ratio = finite_or_none(row.get("speech_ratio"))
    return ratio is not None and ratio > 0


def sync_uncertainty(row: dict, band: Callable | None = None, peak_scale: float = SYNC_PEAK_SCALE) -> str | None:
    """Why the row's sync estimate is no evidence, or None when it is.

    "short_speech": under ``MIN_CONFIDENCE_SPEECH_S`` of speech; "no_estimate": the estimator
    gave none (under 3 s of face); "weak_peak": the best offset stands out less
    (``sync_confidence``) than on 95 % of real recordings, so which offset won is chance;
    "needs_more_speech": the peak is one that audio unrelated to the lips reaches with this much
    speech (below ``peak_scale`` / sqrt(speech_s); ``sync_speech_needed_s`` says how much speech
    it would take); "search_edge": a clear peak at the edge of the search. ``peak_scale`` 0
    leaves out the speech-dependent peak (the estimator's floor and the real 5th percentile only).
    """
    if not has_speech(row):
        return None
    speech_s = finite_or_none(row.get("speech_s"))
    if speech_s is not None and speech_s < MIN_CONFIDENCE_SPEECH_S:
        return "short_speech"
    offset = finite_or_none(row.get("sync_offset_frames"))
    if offset is None:
        return "no_estimate"
    confidence, real = finite_or_none(row.get("sync_confidence")), (band or _default_band)("sync_confidence")
    if confidence is not None and real is not None and confidence < real.low:
        return "weak_peak"
    if confidence is not None and speech_s is not None and confidence < peak_scale / math.sqrt(speech_s):
        return "needs_more_speech"
    if abs(offset) >= SEARCH_EDGE_FRAMES:
        return "search_edge"
    return None


def sync_speech_needed_s(row: dict, peak_scale: float = SYNC_PEAK_SCALE) -> float:
    """Seconds of speech from which the row's sync peak (``sync_confidence``) would read an offset:
    (``peak_scale`` / confidence)^2, and never under ``MIN_CONFIDENCE_SPEECH_S``."""
    confidence = finite_or_none(row.get("sync_confidence"))
    if confidence is None or confidence <= 0:
        return MIN_CONFIDENCE_SPEECH_S
    return max(MIN_CONFIDENCE_SPEECH_S, (peak_scale / confidence) ** 2)


def tolerance_frames(band: Callable = _default_band) -> tuple[int, int]:
    """The estimator's offsets on real recordings: the 5th-95th percentile of ``sync_offset_frames``
    over the real recordings with speech, widened to whole frames.

    The mouth moves before the sound it makes, by a speaker-dependent amount the estimator cannot
    tell from a real delay; an offset inside this range is read as in sync, and one beyond it
    counts from its edge.
    """
    offsets = band("sync_offset_frames")
    if offsets is None:
        return 0, 0
    return math.floor(offsets.low), math.ceil(offsets.high)


def offset_beyond_tolerance_ms(offset_frames: float, tolerance: tuple[int, int] | None = None) -> float:
    """Milliseconds by which the offset leaves the tolerance range (+ late, - early, 0 inside)."""
    low, high = tolerance or tolerance_frames()
    if offset_frames > high:
        return (offset_frames - high) * FRAME_MS
    if offset_frames < low:
        return (offset_frames - low) * FRAME_MS
    return 0.0


def range_at_reference_duration(value: float | None, duration_s: float | None) -> float | None:
    """A head range measured over ``duration_s`` read at ``REFERENCE_DURATION_S``: times
    (REFERENCE_DURATION_S / duration_s) ^ RANGE_GROWTH_SHORT for a shorter clip,
    ^ RANGE_GROWTH_LONG for a longer one. Unchanged without a positive duration (None stays None)."""
    if value is None or duration_s is None or not duration_s > 0:
        return value
    alpha = RANGE_GROWTH_SHORT if duration_s < REFERENCE_DURATION_S else RANGE_GROWTH_LONG
    return value * (REFERENCE_DURATION_S / duration_s) ** alpha


def comparable_value(row: dict, signal: str) -> float | None:
    """The row's ``signal`` as it is compared with the real-footage band: the raw measurement,
    except that a head range (``RANGE_SIGNALS``) is read at ``REFERENCE_DURATION_S`` from the
    row's ``signal_span_s``. The bands are drawn from the same values (benchmarks/signal_reference.py)."""
    value = finite_or_none(row.get(signal))
    if signal not in RANGE_SIGNALS:
        return value
    return range_at_reference_duration(value, finite_or_none(row.get("signal_span_s")))


# --------------------------------------------------------------------------------------------
# Grades of single signals, each on 1..5


def bt1359_grade(late_ms: float) -> float:
    """Grade of an offset beyond the tolerance range; ``late_ms`` > 0 sound late, < 0 early.

    Linear from 5 (in sync) to 4.5 at the detectability threshold and 3.5 at the acceptability
    threshold, then on along the detectability-to-acceptability slope down to 1.
    """
    ms = abs(late_ms)
    detect, accept = (DETECT_LATE_MS, ACCEPT_LATE_MS) if late_ms > 0 else (DETECT_EARLY_MS, ACCEPT_EARLY_MS)
    if ms <= detect:
        grade = 5.0 - (5.0 - GRADE_DETECT) * ms / detect
    else:
        grade = GRADE_DETECT - (GRADE_DETECT - GRADE_ACCEPT) * (ms - detect) / (accept - detect)
    return max(1.0, grade)


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def real_grade(value: float, band, direction: str) -> float:
    """1 + 4 Phi(Z_FAIR - d): d robust standard deviations on the bad side of the real median.

    ``direction`` "higher": d = -z (below the median is bad, above it better still); "lower":
    d = z; "both": d = |z|. The real median grades 4.80, the real 5th percentile (or 95th, on the
    bad side) 3.00, two robust standard deviations out 2.44, four 1.04; strictly monotone, so
    every difference between two clips keeps its sign.
    """
    z = band.z(value)
    d = {"higher": -z, "lower": z, "both": abs(z)}[direction]
    return 1.0 + 4.0 * _phi(Z_FAIR - d)


def share_grade(bad_share: float) -> float:
    """5 - 4 x the share of the clip that is impaired (frozen, without a face)."""
    return 5.0 - 4.0 * min(1.0, max(0.0, bad_share))


# --------------------------------------------------------------------------------------------
# The scorer


@dataclass
class ReferenceScores:
    values: dict[str, float | None]  # one per tqscore.layout.LABELS, each in [1, 5] or None
    causes: list[str] = field(default_factory=list)  # "code: text" for every None score
    parts: dict[str, dict[str, float | None]] = field(default_factory=dict)  # the evidence per label


def weighted_mean(grades: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The ``weights``-weighted mean of the present grades; None when none with weight is present."""
    kept = [(grades[name], w) for name, w in weights.items() if grades.get(name) is not None and w > 0]
    total = sum(w for _, w in kept)
    return sum(g * w for g, w in kept) / total if total > 0 else None


def _clip(value: float | None) -> float | None:
    return None if value is None else round(min(5.0, max(1.0, value)), 4)


class ReferenceScorer:
    """One row (signals + metadata) -> evidence per label -> the five scores.

    ``weights``: per label, the weight of each named grade (``DEFAULT_WEIGHTS`` when None; a label
    missing from ``weights`` keeps its default). ``band``: the real-footage band of a signal
    (``tqscore.signals.reference.reference_band``; injectable for tests). ``name``: the model id
    of custom weights (a calibration's digest, say); ``reference-4-custom`` when not given.
    """

    def __init__(self, weights: dict[str, dict[str, float]] | None = None, band: Callable | None = None,
                 name: str | None = None):
        self.weights = {label: dict((weights or {}).get(label, DEFAULT_WEIGHTS[label])) for label in LABELS}
        for label, grades in self.weights.items():
            if any(not math.isfinite(w) or w < 0 for w in grades.values()):
                raise ValueError(f"weights of {label} must be finite and non-negative: {grades}")
        self.band = band or _default_band
        self._custom = weights is not None and self.weights != DEFAULT_WEIGHTS
        self._name = name

    @property
    def model_id(self) -> str:
        """``reference-4`` with the default weights; ``name`` (or ``reference-4-custom``) otherwise."""
        return MODEL_ID if not self._custom else self._name or f"{MODEL_ID}-custom"

    def grade(self, row: dict, signal: str, direction: str) -> float | None:
        value, band = comparable_value(row, signal), self.band(signal)
        if value is None or band is None:
            return None
        return real_grade(value, band, direction)

    def _lip_grades(self, row: dict) -> dict[str, float | None]:
        uncertainty = sync_uncertainty(row, self.band)
        certain = uncertainty is None
        grades = {name: self.grade(row, signal, d) for name, signal, d in LIP_EVIDENCE}
        offset = finite_or_none(row.get("sync_offset_frames"))
        grades["offset"] = (bt1359_grade(offset_beyond_tolerance_ms(offset, tolerance_frames(self.band)))
                            if certain and offset is not None else None)
        grades["lag"] = self.grade(row, "sync_offset_frames", "both") if certain else None
        if uncertainty in ("short_speech", "no_estimate", "search_edge"):
            grades["follows_audio"] = None
            if uncertainty == "search_edge":
                grades["onsets"] = None  # read at the estimator's offset, which is no estimate here
        return grades

    def _picture_grades(self, row: dict, face: float) -> dict[str, float | None]:
        grades = {name: self.grade(row, signal, d) for name, signal, d in PICTURE_EVIDENCE}
        frozen = finite_or_none(row.get("frozen_frame_ratio"))
        grades["frozen"] = None if frozen is None else share_grade(frozen)
        grades["face_present"] = share_grade(1.0 - face)
        return grades

    def evidence(self, row: dict) -> dict[str, dict[str, float | None]]:
        """For each label, each named grade on the 1-5 scale (None where not measurable)."""
        face = finite_or_none(row.get("face_present_ratio"))
        has_face = row.get("status") != "no_face" and face is not None and face > 0
        speech = has_speech(row)
        no_lip = dict.fromkeys(("offset", "lag", *(n for n, _, _ in LIP_EVIDENCE)))
        lip = self._lip_grades(row) if has_face and speech else no_lip
        ovrl = finite_or_none(row.get("dnsmos_ovrl")) if speech else None
        expression = {name: self.grade(row, signal, d) if has_face else None for name, signal, d in EXPRESSION_EVIDENCE}
        picture = self._picture_grades(row, face) if has_face else {}
        expression["frozen"] = picture.get("frozen")
        silence = self.grade(row, "mouth_motion_silence", "lower") if has_face and speech else None
        parts = {
            "lip_sync": lip,
            "expression": expression,
            "audio_quality": {"dnsmos_ovrl": None if ovrl is None else min(5.0, max(1.0, ovrl))},
            "cross_modal": {"mouth_speech": lip["mouth_speech"], "mouth_silence": silence, "lag": lip["lag"],
                            "follows_audio": lip["follows_audio"], "onsets": lip["onsets"]},
        }
        if picture:  # overall also weighs the four other scores
            picture.update({label: _clip(self.combine(label, grades)) for label, grades in parts.items()})
        return parts | {"overall": picture}

    def combine(self, label: str, grades: dict[str, float | None]) -> float | None:
        """The label's weighted mean of ``grades``, capped by its ``CAPS`` grades."""
        value = weighted_mean(grades, self.weights[label])
        caps = [grades[name] for name in CAPS.get(label, ()) if grades.get(name) is not None]
        return min([value, *caps]) if value is not None and caps else value

    def score(self, row: dict) -> ReferenceScores:
        parts = self.evidence(row)
        values = {label: _clip(self.combine(label, parts[label])) for label in LABELS}
        return ReferenceScores(values, causes(row, values), parts)


def causes(row: dict, values: dict[str, float | None]) -> list[str]:
    """"code: text" for every null score: the row-level cause that explains it, else its own."""
    out, explained = [], set()
    face = finite_or_none(row.get("face_present_ratio"))
    if row.get("status") == "no_face" or not face:
        out.append("no_face: no face found, so lip_sync, expression, cross_modal and overall are not scored")
        explained |= {"lip_sync", "expression", "cross_modal", "overall"}
    if row.get("has_audio") is False:
        out.append("no_audio: the file has no audio track, so lip_sync, audio_quality and cross_modal are not scored")
        explained |= {"lip_sync", "audio_quality", "cross_modal"}
    elif not has_speech(row):
        out.append("no_speech: no speech detected, so lip_sync, audio_quality and cross_modal are not scored")
        explained |= {"lip_sync", "audio_quality", "cross_modal"}
    own = {
        "lip_sync": "lip_sync_unmeasured: too little face and speech for any lip-sync signal",
        "expression": "expression_unmeasured: no face-motion signal for this clip",
        "audio_quality": "audio_unrated: DNSMOS gave no rating for this audio",
        "cross_modal": "cross_modal_unmeasured: too little face and speech for any cross-modal signal",
        "overall": "overall_unmeasured: no picture signal for this clip",
    }
    return out + [text for label, text in own.items() if values.get(label) is None and label not in explained]
