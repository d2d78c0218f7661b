"""The feature layout: the one definition of what a clip's feature record holds.

Extraction writes records in this layout, training reads them, export folds the preprocessing
against these widths and the runtime feeds engines in this order. Any change to a stream's
name, width, dtype or meaning bumps ``LAYOUT_VERSION``; bundles and records carry the version
they were made with, and loading refuses a mismatch instead of scoring garbage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tqscore.errors import FeatureError

# 2: Face Mesh tracks every frame of the dense signal pass, so a standard frame's landmarks (and
# the AUs and crops made from them) come from tracking over consecutive frames (docs/extract.md).
LAYOUT_VERSION = 2

T = 150  # frames per standard clip (docs/method.md §1)
FPS = 25.0  # nominal frame rate of the standard clip
SAMPLE_RATE = 16_000  # audio sample rate fed to HuBERT and the signals

N_LANDMARKS = 468  # MediaPipe Face Mesh points, without the iris refinement

LABELS: tuple[str, ...] = ("lip_sync", "expression", "audio_quality", "cross_modal", "overall")
MISSING_LABEL = -1.0


@dataclass(frozen=True)
class Stream:
    """One per-frame feature stream of a record: ``(T, width)`` float32."""

    name: str
    width: int
    pca_components: int  # default PCA width after preprocessing (docs/method.md §7); == width means no PCA
    source: str  # where the numbers come from, for readers of a record


STREAMS: tuple[Stream, ...] = (
    Stream("visual", 2048, 100, "ResNet101 global-average-pooled output of the 224x224 face crop"),
    Stream("audio", 768, 200, "HuBERT-Base last hidden state, interpolated to the frame times"),
    Stream("landmarks", N_LANDMARKS * 3, 50, "Face Mesh x1,y1,z1,x2,... (x, y in [0, 1]); zeros without a face"),
    Stream("aus", 17, 17, "17 distance-based action units, each frame divided by its max (tqscore.features.aus)"),
)
STREAM_NAMES: tuple[str, ...] = tuple(s.name for s in STREAMS)
STREAM_WIDTHS: dict[str, int] = {s.name: s.width for s in STREAMS}
FEATURE_WIDTH = sum(s.width for s in STREAMS)  # 4237: the raw per-frame width the fusion graph takes

# Masks stored beside the streams, each (T,) uint8 (safetensors has no bool for numpy readers).
FRAME_MASK = "frame_mask"  # 1 where the frame is a real decoded frame, 0 where it is padding
FACE_MASK = "face_mask"  # 1 where Face Mesh found a face on that frame
MASKS: tuple[str, ...] = (FRAME_MASK, FACE_MASK)

FEATURE_DTYPE = np.float32
MASK_DTYPE = np.uint8


def stream_shape(name: str) -> tuple[int, int]:
    return (T, STREAM_WIDTHS[name])


class LayoutVersionError(FeatureError):
    """A record or bundle was made for another feature-layout version."""


def check_layout_version(found: int | str | None, what: str) -> None:
    if found is None or int(found) != LAYOUT_VERSION:
        raise LayoutVersionError(
            f"{what} was made for feature-layout version {found}, but this tqscore uses "
            f"version {LAYOUT_VERSION}; re-extract the features / retrain the bundle with this version"
        )
