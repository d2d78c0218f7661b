"""The one table of training-free signal columns.

It drives the Parquet schema of ``tqscore batch`` (``tqscore.runtime.schema``), the feature
record's ``signals`` metadata and the table in ``docs/signals.md``. Every column is nullable:
``None`` means the clip gives no basis for the number (no audio, no face, no speech, no SyncNet
weights), never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass


# Bumped whenever a column's computation changes (not its text): with the real-footage
# reference's digest it makes ``tqscore.signals.signals_id``, which every batch row stores and
# resume compares, so a table never mixes rows of two definitions (rows without an id are
# analysed again).
SIGNALS_VERSION = 1


@dataclass(frozen=True)
class SignalColumn:
    name: str
    dtype: str  # "float32" | "int32"
    unit: str
    range: str
    better: str  # "higher" | "lower" | "closer to 0" | "context" | "inside the real-footage range"
    description: str


# The head ranges are ranges over the whole clip; the scorer reads them at one duration.
_READ_AT_ONE_DURATION = (" Grows with the clip's length: the scorer compares it with real footage read at one "
                         "duration (tqscore.model.reference.REFERENCE_DURATION_S; docs/scores.md).")

SIGNAL_COLUMNS: tuple[SignalColumn, ...] = (
    SignalColumn(
        "signal_span_s", "float32", "seconds", "0 .. 60", "context",
        "Seconds of the clip the signals analysed: the whole clip, capped at its first 60 s "
        "(tqscore.media.sampling.SIGNAL_SPAN_S).",
    ),
    SignalColumn(
        "signal_fps", "float32", "frames / s", "> 0", "context",
        "Frame rate the signals read: every frame of the span, every step-th above 25 fps "
        "(step = round(fps / 25), the standard clip's rule).",
    ),
    SignalColumn(
        "sync_offset_frames", "int32", "frames (40 ms at 25 fps)", "-15 .. 15", "closer to 0",
        "A/V offset from Face Mesh mouth shape vs speech-band energy; positive = audio lags the video "
        "(sound arrives late). Includes the estimator's own speaker-dependent bias of a few frames.",
    ),
    SignalColumn(
        "sync_confidence", "float32", "canonical correlation", "0 .. 1", "higher",
        "Peak minus median, over the +/-15 frame offsets, of the mouth/audio canonical correlation "
        "averaged over 3-s windows spread over the whole clip; low when the mouth does not follow "
        "this audio at any offset.",
    ),
    SignalColumn(
        "sync_score", "float32", "score", "0 .. 5", "higher",
        "5 / (1 + exp(-10 (c_norm - 0.5))) with c_norm = sync_confidence / 0.30 clipped to [0, 1] "
        "(docs/method.md §6).",
    ),
    SignalColumn(
        "sync_open_loudness_corr", "float32", "Spearman rank correlation", "-1 .. 1", "higher",
        "On consecutive frame pairs with a face touching speech: rank correlation of the inner-lip "
        "opening's rise with the 300-3000 Hz log energy's rise (onsets, falls count as 0) at the sync "
        "estimator's offset; near 0 = the mouth does not open with this voice's syllables.",
    ),
    SignalColumn(
        "syncnet_offset_frames", "int32", "frames (40 ms at 25 fps)", "-15 .. 15", "closer to 0",
        "SyncNet offset, same sign as sync_offset_frames (positive = audio lags); syncnet_python "
        "prints the negative of this. Null without SyncNet weights.",
    ),
    SignalColumn(
        "syncnet_lse_c", "float32", "embedding distance", ">= 0", "higher",
        "SyncNet LSE-C: median minus minimum of the mean distance over the +/-15 shifts. Null without weights.",
    ),
    SignalColumn(
        "syncnet_lse_d", "float32", "embedding distance", ">= 0", "lower",
        "SyncNet LSE-D: minimum over the +/-15 shifts of the mean audio/video embedding distance. "
        "Null without weights.",
    ),
    SignalColumn("dnsmos_sig", "float32", "MOS", "1 .. 5", "higher", "DNSMOS P.835 speech signal quality."),
    SignalColumn("dnsmos_bak", "float32", "MOS", "1 .. 5", "higher", "DNSMOS P.835 background noise (5 = clean)."),
    SignalColumn("dnsmos_ovrl", "float32", "MOS", "1 .. 5", "higher", "DNSMOS P.835 overall quality."),
    SignalColumn("dnsmos_p808", "float32", "MOS", "1 .. 5", "higher", "DNSMOS P.808 overall quality."),
    SignalColumn(
        "speech_ratio", "float32", "fraction of frames", "0 .. 1", "context",
        "Share of the analysed frames that Silero VAD marks as speech (frame centre inside a speech segment).",
    ),
    SignalColumn("speech_s", "float32", "seconds", ">= 0", "context",
                 "Seconds of speech Silero VAD finds in the analysed span."),
    SignalColumn("face_present_ratio", "float32", "fraction of frames", "0 .. 1", "higher",
                 "Share of the clip's frames on which Face Mesh found a face."),
    SignalColumn("face_longest_gap_s", "float32", "seconds", ">= 0", "lower",
                 "Longest stretch of consecutive frames without a face."),
    SignalColumn(
        "frozen_frame_ratio", "float32", "fraction of frame pairs", "0 .. 1", "lower",
        "Share of consecutive frame pairs inside a hold: two or more visually identical pairs in a row "
        "(mean absolute difference of the 64x64 grey face crops below 0.2 grey levels); an isolated "
        "repeated frame (frame-rate conversion) is not a hold.",
    ),
    SignalColumn(
        "distinct_picture_rate", "float32", "pictures / s", "0 .. signal_fps", "inside the real-footage range",
        "Face pictures per second that differ from the one before (the same test as frozen_frame_ratio, "
        "every pair counted): signal_fps for footage whose every frame is new, lower where frames repeat, "
        "e.g. 15 for 15-fps motion in a 30-fps file or a clip that freezes.",
    ),
    SignalColumn(
        "landmark_jitter", "float32", "inter-ocular distances / frame^2", ">= 0", "lower",
        "Median over frames of the RMS second difference (acceleration at 25 fps) of the 468 Face Mesh "
        "points, in units of the inter-ocular distance; high = shaky landmarks or face.",
    ),
    SignalColumn(
        "mouth_motion_speech", "float32", "inter-ocular distances / s", ">= 0", "higher",
        "Mean absolute speed of the inner-lip opening over frame pairs touching speech (Silero VAD); "
        "near 0 = the mouth is frozen while someone speaks.",
    ),
    # Head motion (tqscore.signals.head): pose from a similarity fit of the rigid upper-face points
    # to the clip's own reference face; R = Ry(yaw) Rx(pitch) Rz(roll).
    SignalColumn("head_yaw_range_deg", "float32", "degrees", "0 .. 180", "inside the real-footage range",
                 "5th-95th percentile range of the head's yaw (turning left/right) over face frames." + _READ_AT_ONE_DURATION),
    SignalColumn("head_pitch_range_deg", "float32", "degrees", "0 .. 180", "inside the real-footage range",
                 "5th-95th percentile range of the head's pitch (nodding) over face frames." + _READ_AT_ONE_DURATION),
    SignalColumn("head_roll_range_deg", "float32", "degrees", "0 .. 180", "inside the real-footage range",
                 "5th-95th percentile range of the head's roll (tilting) over face frames." + _READ_AT_ONE_DURATION),
    SignalColumn("head_rotation_speed_dps", "float32", "degrees / s", ">= 0", "inside the real-footage range",
                 "Median angular speed of the head, its rotation between frames 0.2 s apart divided by their time."),
    SignalColumn("head_translation_iod", "float32", "inter-ocular distances", ">= 0", "inside the real-footage range",
                 "Length of the 5th-95th percentile ranges (x, y) of the face centre's position in the frame, "
                 "in the face's median 3-D inter-ocular distance." + _READ_AT_ONE_DURATION),
    SignalColumn("head_still_ratio", "float32", "fraction of 0.2-s frame pairs", "0 .. 1", "inside the real-footage range",
                 "Share of 0.2-s frame pairs whose rotation speed is below 2.5 deg/s (the pose fit's noise "
                 "floor on frozen pictures); 1 = a head that never turns."),
    # Expression dynamics (tqscore.signals.expression).
    SignalColumn("blink_rate_per_min", "float32", "blinks / minute", ">= 0", "inside the real-footage range",
                 "Dips of the eye aspect ratio (Soukupova & Cech 2016) below 0.80 of the clip's open-eye "
                 "value, per minute of face; null under 3 s of face."),
    SignalColumn("brow_motion", "float32", "inter-ocular distances / s", ">= 0", "inside the real-footage range",
                 "RMS rate of change (over 0.2 s) of the eyebrows' height above the eye corners, pose removed."),
    SignalColumn("expression_variability", "float32", "inter-ocular distances", ">= 0", "inside the real-footage range",
                 "RMS over the 468 points' pose-free x, y of their robust standard deviation over time "
                 "(IQR / 1.349); near 0 = a mask-like face."),
    SignalColumn("mouth_motion_silence", "float32", "inter-ocular distances / s", ">= 0", "lower",
                 "Mean absolute speed of the inner-lip opening over frame pairs more than 0.3 s from any speech (Silero "
                 "VAD); high = a mouth that keeps moving while nobody speaks. Null without audio or silence."),
    SignalColumn("mouth_open_range", "float32", "inter-ocular distances", ">= 0", "inside the real-footage range",
                 "5th-95th percentile range of the inner-lip opening (mean of five lip pairs / IOD)."),
    # Picture quality (tqscore.signals.picture), on the original frames.
    SignalColumn("face_sharpness", "float32", "gradient-energy ratio", "> 0", "higher",
                 "Geometric mean over every 2nd face frame of the luma's gradient energy at Gaussian scale 1 px / 4 px "
                 "(two octaves of the power spectrum), inside the face hull less the mouth region, the face "
                 "resampled to 172 px; falls towards 1 as blur widens (a 1/f^2 picture gives 16)."),
    SignalColumn("mouth_sharpness", "float32", "gradient-energy ratio", "> 0", "higher",
                 "As face_sharpness, inside the mouth region (outer-lip hull scaled 1.5x), same resampling as the face."),
    SignalColumn("mouth_face_sharpness_ratio", "float32", "ratio", ">= 0", "inside the real-footage range",
                 "mouth_sharpness / face_sharpness; well below the real-footage range = a mouth blurrier "
                 "than its face (inpainting)."),
    SignalColumn("blockiness", "float32", "ratio", ">= 0", "lower",
                 "Mean |luma difference| across the frame's 16-px (H.264 macroblock) grid lines / between the "
                 "other neighbours, on the face box (after Wang, Sheikh & Bovik 2002); 1 = no blocks."),
    SignalColumn("temporal_flicker", "float32", "grey levels (0-255)", ">= 0", "lower",
                 "RMS second difference over consecutive frames of the inner face's mean luma (region "
                 "following the landmarks): frame-to-frame pulsing that head motion and slow light changes do "
                 "not explain."),
    SignalColumn("face_noise", "float32", "grey levels (0-255)", ">= 0", "lower",
                 "Mean over face frames of Immerkaer's (1996) noise sigma of the luma on the inner face's box "
                 "(forehead, eyes, nose), at the original resolution: grain or sensor noise; skin texture adds a "
                 "floor of about 1; coding and blur remove grain."),
)

SIGNAL_NAMES: tuple[str, ...] = tuple(c.name for c in SIGNAL_COLUMNS)


def empty_signals() -> dict[str, float | int | None]:
    """Every column null: the starting row that each signal group fills in."""
    return dict.fromkeys(SIGNAL_NAMES)


def markdown_table() -> str:
    lines = ["| column | type | unit | range | better | meaning |", "|---|---|---|---|---|---|"]
    lines += [
        f"| `{c.name}` | {c.dtype} | {c.unit} | {c.range} | {c.better} | {c.description} |" for c in SIGNAL_COLUMNS
    ]
    return "\n".join(lines)
