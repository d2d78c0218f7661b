"""Decoding any talking-face video into the seed's standard clip (docs/method.md §1).

``open_clip(path)`` gives a :class:`StandardClip`: the T = 150 chosen frame indices and times,
a validity mask, 16 kHz mono audio cut to the video's length, and ``iter_frames()`` that
decodes the chosen frames chunk by chunk. Every bad file raises :class:`MediaError`.
"""

from tqscore.media.audio import load_audio
from tqscore.media.errors import MediaError
from tqscore.media.frames import gpu_decoding_available
from tqscore.media.sampling import frame_step, sample_indices
from tqscore.media.video import ClipInfo, StandardClip, open_clip

__all__ = [
    "ClipInfo",
    "MediaError",
    "StandardClip",
    "gpu_decoding_available",
    "frame_step",
    "load_audio",
    "open_clip",
    "sample_indices",
]
