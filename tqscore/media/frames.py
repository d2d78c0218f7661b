"""Frame decoders behind ``StandardClip.iter_frames``: PyAV and decord on the CPU, NVDEC on the GPU.

PyAV decodes frames sequentially with FFmpeg's frame threading, holding only what the caller
asked for; it is the CPU default (``open_clip``'s ``backend="auto"``: decord's CPU reader decodes
ahead without bound, see ``tqscore.media.video``). decord's VideoReader seeks and decodes by
index (``backend="decord"``, CPU). On the GPU frames decode with NVDEC through PyNvVideoCodec
(``tqscore.media.nvdec``, ``backend="nvdec"``). All index the decoded frames in presentation
order and return one frame at a time in display orientation; the caller copies it into its
chunk, so at most one decoded frame besides the chunk is alive (fresh large buffers cost page
faults: one ``get_batch`` of 32 frames of 1080p took 1.6x the CPU of 32 single-frame reads,
measured).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import decord
import numpy as np

from tqscore.media.errors import MediaError

BACKENDS = ("decord", "pyav")  # the CPU decoders; "nvdec" (tqscore.media.nvdec) is the GPU's
GPU_BACKEND = "nvdec"
DECODE_DEVICES = ("auto", "cpu", "cuda")  # auto: the GPU where NVDEC can decode, else the CPU


def decord_reason(exc: Exception) -> str:
    # decord prefixes messages with "[time] /path/to/source.cc:line: ", once per level it passed.
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return "decord: " + re.sub(r"^(\[[^\]]*\]\s*\S+:\d+:\s*)+", "", text)


def gpu_decoding_available() -> bool:
    """Whether frames can decode on the GPU here: PyNvVideoCodec installed and a usable NVIDIA GPU."""
    from tqscore.media.nvdec import nvdec_available

    return nvdec_available()


class DecordFrames:
    """decord's VideoReader on the CPU; turns the frames itself if decord left the display rotation undone.

    decord takes its path as UTF-8 text, so a file name that is not UTF-8 (bytes Python holds
    as surrogate escapes) cannot be passed; such a file is opened here and decord reads it
    through ``/proc/self/fd/N``, the same file under a name it can encode (Linux).
    """

    def __init__(self, path: Path, ctx, displayed: tuple[int, int], rotation: int):
        self.path = path
        self._fd, self._first = None, None
        try:
            str(path).encode("utf-8")
            name = str(path)
        except UnicodeEncodeError:
            self._fd = os.open(path, os.O_RDONLY)
            name = f"/proc/self/fd/{self._fd}"
        try:
            self.reader = decord.VideoReader(name, ctx=ctx)
            # Frame 0 decodes here to learn its size and is kept for the first frame(0): asking
            # decord for it again would seek back to the start of the file on every open.
            self._first = self.reader.get_batch([0]).asnumpy()[0] if len(self.reader) else None
            got = tuple(self._first.shape[:2]) if self._first is not None else None
        except decord.DECORDError as exc:
            self.close()
            raise MediaError(path, f"truncated or corrupt: {decord_reason(exc)}") from None
        self.n_frames = len(self.reader)
        self.turn = 0
        if got != displayed:
            if rotation in (90, 270) and got == displayed[::-1]:  # a decord that ignores the display matrix
                self.turn = rotation // 90
            else:
                self.close()
                raise MediaError(path, f"decord decodes {got} frames, the stream displays {displayed} (height, width)")

    def frame(self, index: int) -> np.ndarray:
        first, self._first = self._first, None  # held until the first request, whichever frame it is
        if index == 0 and first is not None:
            return np.rot90(first, self.turn) if self.turn else first
        try:
            picture = self.reader.get_batch([index]).asnumpy()[0]
        except decord.DECORDError as exc:
            raise MediaError(self.path, f"truncated or corrupt: {decord_reason(exc)}") from None
        return np.rot90(picture, self.turn) if self.turn else picture

    def close(self) -> None:
        self.reader = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PyAVFrames:
    """Sequential PyAV decode; asking for an earlier frame than the last one starts over."""

    def __init__(self, path: Path, n_frames: int, rotation: int):
        self.path, self.n_frames, self.turn = path, n_frames, rotation // 90
        self.container = None
        self._restart()

    def _restart(self) -> None:
        self.close()
        self.container = av.open(str(self.path), metadata_errors="ignore")
        stream = self.container.streams.video[0]
        stream.thread_type = "AUTO"
        self.frames = self.container.decode(stream)
        self.coded_size = (stream.codec_context.width, stream.codec_context.height)
        self.position = 0  # index of the next frame self.frames yields

    def frame(self, index: int) -> np.ndarray:
        if index < self.position:
            self._restart()
        try:
            while True:
                frame = next(self.frames, None)
                if frame is None:
                    cause = f"truncated or corrupt: frame {index} of {self.n_frames} does not decode"
                    raise MediaError(self.path, cause)
                self.position += 1
                if self.position > index:
                    if (frame.width, frame.height) != self.coded_size:
                        # The stream changed resolution mid-way (concatenated recordings): scale
                        # to the first frame's size, as decord does (measured on such a file), so
                        # every frame of the clip has the size its metadata gives.
                        frame = frame.reformat(width=self.coded_size[0], height=self.coded_size[1])
                    picture = frame.to_ndarray(format="rgb24")
                    return np.rot90(picture, self.turn) if self.turn else picture
        except av.FFmpegError as exc:
            raise MediaError(self.path, f"truncated or corrupt: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None
