"""DNSMOS P.835 (SIG, BAK, OVRL) and P.808 speech quality, run with ONNX Runtime.

The ONNX models are the ones the ``speechmos`` wheel ships (Microsoft's DNS-Challenge
``sig_bak_ovr.onnx`` and ``model_v8.onnx``); only their files are used, because the wheel's
Python code imports librosa. Scores follow Microsoft's ``dnsmos_local.py``: 9.01-s segments
hopped by 1 s (shorter audio is repeated to fill one), P.835 raw outputs mapped by the published
polynomials, P.808 fed a 120-band mel spectrogram of the segment minus its last 160 samples,
each score the mean over segments.

Why the P.835 model is run in three pieces: 96 % of its time is the four 3x3 convolutions on the
full-resolution (900 frames x 161 bins) log spectrogram, and with 1-s hops every frame belongs
to 9 overlapping segments. The graph is split (with ``onnx``, at tensor names of the shipped
graph) into its front end (framing + STFT as a 1x1 conv + log power), the convolution stack, and
the rest (max pools onward). The STFT hop is 160 samples, so segment ``i`` is exactly frames
``100 i ... 100 i + 899`` of the clip's spectrogram; the convolution stack runs once over the
clip's frames, and only the ``HALO`` rows at each segment edge, where the segment's own zero
padding differs from its neighbours' data, are recomputed from an 8-row slab of that segment.
The assembled (segment, channels, 900, 161) maps are then exactly what the whole graph computes
inside, up to float summation order (``tests/test_signals_dnsmos.py`` holds the one-run-per-segment
path as the reference: <= 1e-4 on every score). Audio under 9.01 s is repeated to fill a
segment (an 8-s clip becomes 16 s: 7 segments over 1500 frames of only 800 distinct ones); when
its length is a whole number of STFT hops those frames repeat exactly, so one period of the conv
stack is computed and tiled (``Dnsmos._shared_maps``: 0.49 s instead of 0.70 s of DNSMOS on an
8-s clip, the same scores). The P.808 mel spectrogram is shared the same
way: its hop is also 160 samples, so only each segment's first and last frame (which reach into
the segment's zero padding) are computed per segment; the dB scaling stays per segment (its
reference is the segment's own maximum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqscore.errors import SignalError
from tqscore.layout import SAMPLE_RATE
from tqscore.signals.dsp import mel_db, mel_power

INPUT_LENGTH_S = 9.01
# Non-personalised P.835 polynomials from dnsmos_local.py (highest power first).
POLY_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
POLY_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
POLY_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])

# Tensor names in sig_bak_ovr.onnx where it is cut: the NCHW log spectrogram entering the first
# conv, and the ReLU after the fourth conv (the last one before the first 2x2 max pool).
SPECTROGRAM = "adjusted_input6"
CONV_OUT = "mos_estimator_logpow/conv2d_3/Relu:0"
P835_OUT = "Identity:0"
STFT_HOP = 160  # samples: the graph reshapes the segment into (900, 160) rows, frames = 2 rows
FRAMES = 900  # spectrogram frames per 9.01-s segment (144160 = 901 * 160 samples)
SEGMENTS_PER_RUN = 16  # segments whose frames share one conv-stack run: bounds memory on long clips


def speechmos_model_dir() -> Path:
    """The wheel's dnsmos_models folder, found without importing speechmos (which imports librosa)."""
    from importlib.util import find_spec

    spec = find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise SignalError("the speechmos package is not installed; it ships the DNSMOS ONNX models")
    return Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models"


def _subgraph(model, inputs: tuple[str, ...], output: str, symbolic: dict[str, list]) -> bytes:
    """The nodes of ``model`` between ``inputs`` and ``output`` as a serialised model."""
    import onnx
    from onnx import helper

    producers = {o: n for n in model.graph.node for o in n.output}
    keep, stack, seen = [], [output], set(inputs)
    while stack:
        name = stack.pop()
        if name in seen or name not in producers:
            continue
        seen.add(name)
        node = producers[name]
        keep.append(node)
        stack.extend(node.input)
    order = {id(n): i for i, n in enumerate(model.graph.node)}
    nodes = sorted({id(n): n for n in keep}.values(), key=lambda n: order[id(n)])
    used = {i for n in nodes for i in n.input}
    initializers = [t for t in model.graph.initializer if t.name in used]
    graph = helper.make_graph(
        nodes, "dnsmos_part",
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, symbolic[n]) for n in inputs],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
        initializers,
    )
    part = helper.make_model(graph, opset_imports=model.opset_import)
    part.ir_version = model.ir_version
    return part.SerializeToString()


class Dnsmos:
    """Load once per process; call with 16 kHz mono float32 audio in [-1, 1]."""

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1):
        import onnx
        import onnxruntime as ort

        model_dir = Path(model_dir) if model_dir else speechmos_model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No CPU memory arena: ONNX Runtime's arena keeps the largest working set any clip ever
        # needed (the conv stack's maps over 16 segments) for the life of the worker. Measured in
        # one process on 5 shared clips (3-26 s of audio; /proc VmHWM, one session set each way):
        # with the arena the peak was 653-738 MB and 632-693 MB stayed resident between clips,
        # without it 271-469 MB and 125-129 MB. The price is CPU: 4 clips (KatieHill, sadtalker_art2,
        # styletalk, demo1_video; 8-26 s), 3 passes per process, processes alternated: 5.7-6.4 s per
        # pass without the arena, 4.8-5.5 s with it (~12 % more DNSMOS CPU). Keeping the arena and
        # shrinking it on each session's last run of a clip ("memory.enable_memory_arena_shrinkage")
        # cost 5.4-5.7 s and still left 680-700 MB resident, so it bought neither. Scores are
        # unchanged (allocation only).
        options.enable_cpu_mem_arena = False
        providers = ["CPUExecutionProvider"]
        paths = {name: model_dir / name for name in ("sig_bak_ovr.onnx", "model_v8.onnx")}
        for path in paths.values():
            if not path.is_file():
                raise SignalError("DNSMOS model missing", path)
        p835 = onnx.load(str(paths["sig_bak_ovr.onnx"]))
        input_name = p835.graph.input[0].name
        shapes = {input_name: ["N", FRAMES * STFT_HOP + STFT_HOP], SPECTROGRAM: ["N", 1, "T", "F"],
                  CONV_OUT: ["N", "C", "T", "F"]}

        def session(inputs, output):
            return ort.InferenceSession(_subgraph(p835, inputs, output, shapes), options, providers=providers)

        # A clip of one segment (9-10 s) has nothing to share: the whole graph is cheaper there.
        self.whole = ort.InferenceSession(str(paths["sig_bak_ovr.onnx"]), options, providers=providers)
        self.front = session((input_name,), SPECTROGRAM)
        self.convs = session((SPECTROGRAM,), CONV_OUT)
        self.rest = session((CONV_OUT,), P835_OUT)
        self.input_name = input_name
        # Each 3x3 "same" conv widens the span a row depends on by one row each way.
        self.halo = sum(
            1 for n in onnx.load_from_string(_subgraph(p835, (SPECTROGRAM,), CONV_OUT, shapes)).graph.node
            if n.op_type == "Conv"
        )
        self.p808 = ort.InferenceSession(str(paths["model_v8.onnx"]), options, providers=providers)

    def _p835_raw(self, segments: np.ndarray, period_frames: int | None = None) -> np.ndarray:
        """(n, 144160) segments hopped by 1 s -> (n, 3) raw SIG/BAK/OVRL, as the whole graph gives.
        ``period_frames``: the segments are cut from audio repeated every that many STFT hops."""
        if len(segments) == 1:
            return self.whole.run(None, {self.input_name: segments})[0]
        hop = SAMPLE_RATE // STFT_HOP  # frames per 1-s segment hop
        halo, raw = self.halo, []
        for start in range(0, len(segments), SEGMENTS_PER_RUN):
            chunk = segments[start : start + SEGMENTS_PER_RUN]
            spec = self.front.run(None, {self.input_name: chunk})[0]  # (n, 1, 900, F)
            # The chunk's frames: all of segment 0, then the last `hop` frames each later one adds.
            frames = np.concatenate([spec[0, :, :]] + [spec[i, :, FRAMES - hop :] for i in range(1, len(chunk))], axis=1)
            shared = self._shared_maps(frames, period_frames)  # (C, frames, F)
            # Edges inside the chunk's frames see neighbours where the segment sees zero padding;
            # the chunk's own two ends see the same padding as the segment.
            n = len(chunk)
            slabs = np.concatenate([spec[1:, :, : 2 * halo], spec[: n - 1, :, FRAMES - 2 * halo :]])
            edges = self.convs.run(None, {SPECTROGRAM: slabs})[0] if len(slabs) else None  # (2n - 2, C, 2 halo, F)
            for i in range(n):
                maps = shared[:, i * hop : i * hop + FRAMES].copy()
                if i > 0:
                    maps[:, :halo] = edges[i - 1, :, :halo]
                if i < n - 1:
                    maps[:, FRAMES - halo :] = edges[n - 1 + i, :, halo:]
                raw.append(self.rest.run(None, {CONV_OUT: maps[None]})[0][0])
        return np.asarray(raw)

    def _shared_maps(self, frames: np.ndarray, period_frames: int | None) -> np.ndarray:
        """The conv stack over (1, T, F) frames, zero-padded at both ends as one run gives it.

        Audio under one segment is repeated to fill it (an 8-s clip becomes 16 s, 7 segments), so
        when its length is a whole number of STFT hops the frames repeat every ``period_frames``
        and so does the conv output away from the two padded ends: one period plus the halo is
        computed (about half the frames of an 8-s clip) and tiled, and the last ``halo`` rows,
        which see the end padding, come from a slab of the last frames."""
        total, halo = frames.shape[1], self.halo
        if not period_frames or total < period_frames + 2 * halo:  # no full period past the start
            return self.convs.run(None, {SPECTROGRAM: frames[None]})[0][0]
        one = self.convs.run(None, {SPECTROGRAM: frames[None, :, : period_frames + 2 * halo]})[0][0]
        rows = np.arange(total)
        shared = one[:, np.where(rows < halo, rows, halo + (rows - halo) % period_frames)]
        tail = self.convs.run(None, {SPECTROGRAM: frames[None, :, total - 2 * halo :]})[0][0]
        shared[:, total - halo :] = tail[:, halo:]
        return shared

    def _p808_inputs(self, audio: np.ndarray, starts: list[int]) -> list[np.ndarray]:
        """Per segment, the (900, 120) mel input of ``melspectrogram_db(segment[:-160])``."""
        hop = SAMPLE_RATE // STFT_HOP
        length = FRAMES * STFT_HOP  # the segment minus its last 160 samples
        shared = mel_power(audio[: starts[-1] + length])  # frame k + 100 i = frame k of segment i
        inputs = []
        for i, start in enumerate(starts):
            mel = shared[i * hop : i * hop + FRAMES].copy()
            seg = audio[start : start + length]
            mel[0] = mel_power(seg[: STFT_HOP + 1])[0]  # reaches STFT_HOP samples into the front padding
            mel[-1] = mel_power(seg[-2 * STFT_HOP :])[-1]  # and one sample past the end
            inputs.append(mel_db(mel)[None])
        return inputs

    def __call__(self, audio: np.ndarray) -> dict[str, float]:
        own_length = len(audio)
        audio, starts = segment_starts(audio)
        seg_len = int(INPUT_LENGTH_S * SAMPLE_RATE)
        segments = np.stack([audio[s : s + seg_len] for s in starts])
        repeated = len(audio) > own_length and own_length % STFT_HOP == 0
        sig, bak, ovrl = self._p835_raw(segments, own_length // STFT_HOP if repeated else None).T
        p808 = [self.p808.run(None, {"input_1": mel})[0][0][0] for mel in self._p808_inputs(audio, starts)]
        return {"dnsmos_sig": float(np.mean(POLY_SIG(sig))), "dnsmos_bak": float(np.mean(POLY_BAK(bak))),
                "dnsmos_ovrl": float(np.mean(POLY_OVRL(ovrl))), "dnsmos_p808": float(np.mean(p808))}


def segment_starts(audio: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """dnsmos_local.py's segmentation: the audio (repeated up to one segment) and its 1-s-hopped starts."""
    audio = np.asarray(audio, np.float32)
    seg_len = int(INPUT_LENGTH_S * SAMPLE_RATE)
    if len(audio) == 0:
        raise ValueError("DNSMOS needs audio; got 0 samples")
    while len(audio) < seg_len:
        audio = np.append(audio, audio)
    n_hops = int(np.floor(len(audio) / SAMPLE_RATE) - INPUT_LENGTH_S) + 1
    return audio, [i * SAMPLE_RATE for i in range(n_hops) if i * SAMPLE_RATE + seg_len <= len(audio)]
