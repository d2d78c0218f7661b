"""The reference scorer ``reference-1``: the five scores from the training-free signals alone.

Without engines (``tqscore batch`` with no ``--engines``) nobody has trained a model, so the
five score columns come from fixed formulas over one row's signals instead. Nothing here was
fitted to labels or tuned until the shared clips looked right: every constant is one of

- a published standard (ITU-R BT.1359-1 for the audio/video offset),
- a scale that already predicts human ratings (DNSMOS P.835 OVRL is a speech-quality MOS),
- the real-footage reference table (``tqscore.signals.reference``: inside the range real
  recordings show is natural, far outside it is not),
- the measured behaviour of the sync estimator on real recordings (its offset at zero shift),
- a plain proportion (the share of the clip without a face takes that share of the scale),
- an equal weight where no human labels exist to set one.

``docs/scores.md`` derives each formula, works one example and says what this is not: a
reference that knows what real footage looks like, not a learned predictor of a human MOS.
A score is None only with a stated cause (no face, no audio, no speech), returned beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tqscore.layout import FPS, LABELS

MODEL_ID = "reference-1"

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

# The estimator's own offset on real, in-sync recordings (no shift applied), in frames: the
# range measured over ../shared/media/real + ../shared/corpus/real (docs/scores.md, "Estimator
# tolerance", has the command and the per-clip values). An offset inside it is read as in sync:
# the estimator cannot tell the speaker's own lead of mouth over sound from a real delay, and a
# real recording must not lose lip-sync points for it. Offsets beyond it count from its edge.
ESTIMATOR_TOLERANCE_FRAMES = (0, 3)

# Weights of the lip-sync evidence: each signal's agreement with human lip-sync judgements above
# chance (issue 9's validation pairs: mouth_motion_speech 80 %, sync_confidence 57 %, chance 50 %).
# sync_open_loudness_corr answers the same question as sync_confidence ("does the mouth follow this
# voice") and shares its weight until it has a measured agreement of its own.
W_MOUTH_SPEECH = 0.80 - 0.50
W_FOLLOWS_AUDIO = 0.57 - 0.50

# sync_confidence counts as lip-sync evidence only with at least this much speech: the sync
# estimator's own floor (tqscore.signals.sync.SyncConfig.min_span_s), below which own audio and
# another utterance's scored alike (1.6-s and 2.6-s all-speech cuts of AOC). A recording with a
# few words in a silent clip (LivePortrait_d12: 0.7 s of speech in 7.3 s) otherwise has its grade
# set by CCA windows over silence (docs/scores.md, "The five formulas").
MIN_CONFIDENCE_SPEECH_S = 3.0

# Overall: the picture counts as much as the four other dimensions together (what a viewer looks
# at, and what issue 10's visual-quality judgements rate); a choice, not a measurement.
W_PICTURE = 0.5


def _band(name: str):
    """The real-footage band of a signal, or None where the table has none."""
    try:
        from tqscore.signals.reference import reference_band
    except ImportError:  # pragma: no cover - the table ships with the package
        return None
    return reference_band(name)


# --------------------------------------------------------------------------------------------
# Grades of single signals, each on 1..5


def bt1359_grade(late_ms: float) -> float:
    """Grade of an offset beyond the tolerance band; ``late_ms`` > 0 sound late, < 0 early.

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


def offset_beyond_tolerance_ms(offset_frames: float) -> float:
    """Milliseconds by which the offset leaves the estimator's tolerance band (+ late, - early, 0 inside)."""
    low, high = ESTIMATOR_TOLERANCE_FRAMES
    if offset_frames > high:
        return (offset_frames - high) * FRAME_MS
    if offset_frames < low:
        return (offset_frames - low) * FRAME_MS
    return 0.0


def outside_widths(value: float, band, side: str = "both") -> float:
    """How far ``value`` lies outside the band, in units of the band's own width (0 inside).

    ``side``: "low" counts only a value below the band (a quantity where more is never worse),
    "high" only above it, "both" either way. The width is how far apart real recordings lie:
    a value one width outside is as far from the nearest real clip as the real clips spread.
    Where every real clip showed a positive value (speeds, ranges, rates, sharpness) distances
    and width are taken on a log scale, as ratios: half the stillest real head's speed is as far
    out whatever the unit, and a value of 0 is infinitely far. Otherwise they are differences.
    """
    low, high = band.low, band.high
    if low > 0:
        if value <= 0:
            return 0.0 if side == "high" else math.inf
        value, low, high = math.log(value), math.log(low), math.log(high)
    width = high - low
    below = max(0.0, low - value) if side in ("low", "both") else 0.0
    above = max(0.0, value - high) if side in ("high", "both") else 0.0
    distance = below + above
    if distance == 0.0:
        return 0.0
    if width <= 0.0:  # every real clip showed one value: any departure is far
        return math.inf
    return distance / width


def median_share_grade(value: float, band) -> float:
    """1 + 4 x value / (real median), capped at 5: for the lip-sync evidence people judge monotonically.

    Inside the real band a flat grade would throw away what ranks generated clips (a mouth that
    moves more while speaking is judged better, issue 9), so these grade by proportion to the
    typical real recording: half the real median's lip speed grades 3.
    """
    if band.median <= 0:
        return 5.0 if value >= band.median else 1.0
    return 1.0 + 4.0 * min(1.0, max(0.0, value / band.median))


def natural_grade(value: float, band, side: str = "both") -> float:
    """5 inside the real-footage band, 1 + 4 exp(-z) at z band widths outside it.

    One width outside ("far": as far from real footage as real clips are from each other)
    grades 2.47, two widths 1.54: the grade keeps falling with the distance and never ties at
    the floor, so two clips that are both unnatural still rank by how unnatural they are.
    """
    return 1.0 + 4.0 * math.exp(-outside_widths(value, band, side))


def share_grade(bad_share: float) -> float:
    """5 - 4 x the share of the clip that is impaired (frozen, without a face)."""
    return 5.0 - 4.0 * min(1.0, max(0.0, bad_share))


# --------------------------------------------------------------------------------------------
# The scorer


@dataclass
class ReferenceScores:
    values: dict[str, float | None]  # one per tqscore.layout.LABELS, each in [1, 5] or None
    causes: list[str] = field(default_factory=list)  # "code: text" for every None score
    parts: dict[str, float] = field(default_factory=dict)  # the graded evidence, for docs and tests


# (signal, side) per evidence group; "side" as in outside_widths.
HEAD_MOTION = (
    ("head_rotation_speed_dps", "both"),
    ("head_yaw_range_deg", "both"),
    ("head_pitch_range_deg", "both"),
    ("head_roll_range_deg", "both"),
    ("head_translation_iod", "both"),
    ("head_still_ratio", "both"),
)
FACE_DYNAMICS = (
    ("blink_rate_per_min", "both"),
    ("brow_motion", "both"),
    ("expression_variability", "both"),
    ("landmark_jitter", "both"),
)
PICTURE = (
    ("face_sharpness", "low"),
    ("mouth_sharpness", "low"),
    ("mouth_face_sharpness_ratio", "low"),
    ("blockiness", "high"),
    ("temporal_flicker", "high"),
    ("face_niqe", "high"),
    ("face_brisque", "high"),
)


def _value(row: dict, name: str) -> float | None:
    value = row.get(name)
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _weighted(pairs: Iterable[tuple[float | None, float]]) -> float | None:
    kept = [(v, w) for v, w in pairs if v is not None]
    total = sum(w for _, w in kept)
    return sum(v * w for v, w in kept) / total if kept and total > 0 else None


class ReferenceScorer:
    """Maps one row (signals + metadata) to the five scores. ``band`` is injectable for tests."""

    model_id = MODEL_ID

    def __init__(self, band: Callable[[str], object | None] = _band):
        self.band = band

    def natural(self, row: dict, name: str, side: str = "both") -> float | None:
        value, band = _value(row, name), self.band(name)
        if value is None or band is None:
            return None
        return natural_grade(value, band, side)

    def share(self, row: dict, name: str) -> float | None:
        value, band = _value(row, name), self.band(name)
        if value is None or band is None:
            return None
        return median_share_grade(value, band)

    def group(self, row: dict, members) -> float | None:
        return _mean(self.natural(row, name, side) for name, side in members)

    def score(self, row: dict) -> ReferenceScores:
        parts: dict[str, float] = {}
        causes: list[str] = []
        face = _value(row, "face_present_ratio")
        has_face = row.get("status") != "no_face" and face is not None and face > 0
        has_audio = row.get("has_audio") is not False
        speech_s = _value(row, "speech_s")
        speech_ratio = _value(row, "speech_ratio")
        has_speech = has_audio and (
            (speech_s is not None and speech_s > 0) or (speech_s is None and speech_ratio is not None and speech_ratio > 0))

        if not has_face:
            causes.append("no_face: no face found, so lip_sync, expression, cross_modal and overall are not scored")
        if not has_audio:
            causes.append("no_audio: the file has no audio track, so lip_sync, audio_quality and cross_modal "
                          "are not scored")
        elif not has_speech:
            causes.append("no_speech: no speech detected, so lip_sync, audio_quality and cross_modal are not scored")

        def keep(name: str, value: float | None) -> float | None:
            if value is not None:
                parts[name] = value
            return value

        # lip_sync: the offset caps what the lip evidence can earn.
        lip_sync = None
        if has_face and has_speech:
            offset = _value(row, "sync_offset_frames")
            s_offset = keep("offset", None if offset is None else bt1359_grade(offset_beyond_tolerance_ms(offset)))
            s_mouth = keep("mouth_speech", self.share(row, "mouth_motion_speech"))
            confidence = (self.share(row, "sync_confidence")
                          if speech_s is None or speech_s >= MIN_CONFIDENCE_SPEECH_S else None)
            s_follows = keep("follows_audio", _mean((confidence,
                                                     self.natural(row, "sync_open_loudness_corr", "low"))))
            evidence = _weighted(((s_mouth, W_MOUTH_SPEECH), (s_follows, W_FOLLOWS_AUDIO)))
            known = [v for v in (s_offset, evidence) if v is not None]
            lip_sync = min(known) if known else None
            if lip_sync is None:
                causes.append("lip_sync_unmeasured: too little face and speech for any lip-sync signal")

        # audio_quality: DNSMOS P.835 OVRL is itself a MOS on this scale.
        audio_quality = None
        if has_speech:
            ovrl = _value(row, "dnsmos_ovrl")
            audio_quality = keep("dnsmos_ovrl", None if ovrl is None else min(5.0, max(1.0, ovrl)))
            if audio_quality is None:
                causes.append("audio_unrated: DNSMOS gave no rating for this audio")

        # expression: head motion, face dynamics and freezes, every signal weighted equally.
        expression = None
        if has_face:
            head = [self.natural(row, n, s) for n, s in HEAD_MOTION]
            dynamics = [self.natural(row, n, s) for n, s in FACE_DYNAMICS]
            frozen = _value(row, "frozen_frame_ratio")
            s_frozen = keep("frozen", None if frozen is None else share_grade(frozen))
            keep("head_motion", _mean(head))
            keep("face_dynamics", _mean(dynamics))
            expression = _mean([*head, *dynamics, s_frozen])
            if expression is None:
                causes.append("expression_unmeasured: no face-motion signal for this clip")

        # cross_modal: does the face answer the audio -- moving with speech, quiet in silence.
        cross_modal = None
        if has_face and has_speech:
            cross_modal = _mean((parts.get("mouth_speech"),
                                 keep("mouth_silence", self.natural(row, "mouth_motion_silence", "high")),
                                 parts.get("follows_audio")))
            if cross_modal is None:
                causes.append("cross_modal_unmeasured: too little face and speech for any cross-modal signal")

        # overall: picture quality of face and mouth, freezes and face presence, with the other four.
        overall = None
        if has_face:
            s_present = keep("face_present", share_grade(1.0 - face))
            picture = keep("picture", _mean([*(self.natural(row, n, s) for n, s in PICTURE),
                                             parts.get("frozen"), s_present]))
            others = _mean((lip_sync, expression, audio_quality, cross_modal))
            overall = _weighted(((picture, W_PICTURE), (others, 1.0 - W_PICTURE)))

        values = dict(zip(LABELS, (lip_sync, expression, audio_quality, cross_modal, overall)))
        values = {k: None if v is None else round(min(5.0, max(1.0, v)), 4) for k, v in values.items()}
        return ReferenceScores(values, causes, parts)
