"""SyncNet LSE-C / LSE-D / offset, scored as syncnet_python's ``SyncNetInstance.evaluate`` does.

Weights: the user's ``syncnet_v2.model`` converted once by ``tqscore export-syncnet`` (never
unpickled here). Two runnable forms:

- ``.onnx`` (recommended for scoring): run with ONNX Runtime, the runtime the serving workers
  already have; the serving image carries no torch, and the graph is one file with both
  branches.
- ``.safetensors``: run with PyTorch (the ``train`` extra) on the CPU; the form the tests use
  and the one to convert from when torch is available but the ONNX exporter is not.

Scoring follows syncnet_python: the lip branch sees 5 consecutive 224x224 face crops (BGR,
0-255), the audio branch the 13 x 20 MFCC block of the same 0.2 s (python_speech_features
MFCC of int16-scaled audio); every window's two embeddings are compared at shifts of
-15..+15 windows (zero-padded at the ends) by Euclidean distance; ``mdist`` is the mean
distance per shift; LSE-D = min(mdist), LSE-C = median(mdist) - min(mdist). The offset column
uses tqscore's sign (positive = audio lags the video): it is syncnet_python's
``vshift - argmin`` negated.

The audio block of a window starts at its first frame's own time (100 MFCC steps per second),
which is syncnet_python's ``4 * frame`` at 25 fps. When the standard clip's frames are not a
25-fps run, SyncNet takes the dense pass's crops of the first 6 s, which the front end keeps when
asked (``run_frontend(syncnet_run=True)``) and the dense rate is 25 fps; only for other rates
(30 fps, say) does it decode its own 25-fps run (``syncnet_frames``), since its 5-frame windows
must span exactly 0.2 s: one more decode and Face Mesh pass over 150 frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tqscore.errors import SignalError
from tqscore.signals.dsp import mfcc

log = logging.getLogger(__name__)

VSHIFT = 15
WINDOW = 5  # frames per lip window
MFCC_PER_S = 100
MFCC_STEPS = 20
BATCH = 20


def shift_distances(lip: np.ndarray, aud: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """(n, 2 * vshift + 1): distance of lip window i to audio window i + j - vshift, audio
    zero-padded at both ends; torch's pairwise_distance (eps 1e-6) as syncnet_python's calc_pdist."""
    padded = np.pad(aud, ((vshift, vshift), (0, 0)))
    idx = np.arange(len(lip))[:, None] + np.arange(2 * vshift + 1)[None, :]
    return np.linalg.norm(lip[:, None, :] - padded[idx] + 1e-6, axis=-1)


def lse_from_distances(dists: np.ndarray, vshift: int = VSHIFT) -> dict[str, float | int]:
    """syncnet_python's offset / confidence from the (n, shifts) distance matrix."""
    mdist = dists.mean(axis=0)
    minidx = int(np.argmin(mdist))
    minval = float(mdist[minidx])
    return {
        "syncnet_offset_frames": minidx - vshift,  # = -(syncnet_python's vshift - minidx)
        "syncnet_lse_c": float(np.median(mdist) - minval),
        "syncnet_lse_d": minval,
    }


def windows(crops: np.ndarray, frame_times: np.ndarray, audio: np.ndarray, face_found: np.ndarray | None = None):
    """Yield (lip (B, 3, 5, 224, 224), mfcc (B, 1, 13, 20)) float32 batches, syncnet_python's inputs.

    With ``face_found``, only windows whose 5 frames all show a face are used: syncnet_python
    scores face tracks, and a crop without a face would only add noise to the mean distance.
    """
    coeffs = mfcc(np.asarray(audio, np.float64) * 32768.0).T.astype(np.float32)  # (13, M)
    starts = np.round(np.asarray(frame_times) * MFCC_PER_S).astype(int)
    last = min(len(crops), int(np.floor(len(audio) / 640)))  # syncnet_python's min_length
    usable = [
        i for i in range(max(0, last - WINDOW))
        if starts[i] + MFCC_STEPS <= coeffs.shape[1] and (face_found is None or face_found[i : i + WINDOW].all())
    ]
    bgr = crops[..., ::-1]
    for b in range(0, len(usable), BATCH):
        idx = usable[b : b + BATCH]
        lip = np.stack([bgr[i : i + WINDOW] for i in idx]).astype(np.float32)  # (B, 5, H, W, 3)
        lip = lip.transpose(0, 4, 1, 2, 3)
        aud = np.stack([coeffs[:, starts[i] : starts[i] + MFCC_STEPS] for i in idx])[:, None]
        yield np.ascontiguousarray(lip), np.ascontiguousarray(aud)


class SyncNetScorer:
    """Load once per process with ``SyncNetScorer.load(path)``; ``score`` one clip."""

    def __init__(self, embed, source: str):
        self._embed = embed  # (lip, mfcc) -> (lip_emb, aud_emb), numpy in and out
        self.source = source

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> SyncNetScorer:
        path = Path(path)
        if not path.is_file():
            raise SignalError("SyncNet weights not found (convert syncnet_v2.model with "
                              "`tqscore export-syncnet syncnet_v2.model --out syncnet.onnx`)", path)
        if path.suffix == ".onnx":
            return cls(_onnx_embed(path, threads), str(path))
        if path.suffix == ".safetensors":
            return cls(_torch_embed(path), str(path))
        raise SignalError("SyncNet weights must be .onnx or .safetensors written by `tqscore export-syncnet`; "
                          "other files are not loaded (no unpickling at scoring time)", path)

    def score(self, crops: np.ndarray, frame_times: np.ndarray, audio: np.ndarray,
              face_found: np.ndarray | None = None) -> dict:
        """LSE columns for one clip; all None without a single 5-frame window of face and audio."""
        lips, auds = [], []
        for lip, aud in windows(crops, frame_times, audio, face_found):
            lip_emb, aud_emb = self._embed(lip, aud)
            lips.append(lip_emb)
            auds.append(aud_emb)
        if not lips:
            return dict.fromkeys(("syncnet_offset_frames", "syncnet_lse_c", "syncnet_lse_d"))
        return lse_from_distances(shift_distances(np.concatenate(lips), np.concatenate(auds)))

    def score_frontend(self, frontend) -> dict:
        """Score the dense pass's 25-fps run of crops when the front end kept one
        (``run_frontend(syncnet_run=True)`` on a 25- or 50-fps clip), else the standard crops when
        they are a 25-fps run; otherwise (a 30-fps clip, say) decode SyncNet's own run of frames
        (``syncnet_frames``)."""
        from tqscore.media import MediaError
        from tqscore.signals.syncnet_frames import consecutive_crops, is_25fps_run

        clip = frontend.clip
        n = clip.n_valid
        run = frontend.signal.run_crops
        if run is not None and len(run):
            sig = frontend.signal
            return self.score(run, sig.times[: len(run)], clip.audio, sig.face_found[: len(run)])
        if is_25fps_run(clip.frame_times[:n]):
            return self.score(frontend.crops[:n], clip.frame_times[:n], clip.audio, frontend.face_found[:n])
        try:
            crops, times, found = consecutive_crops(clip.info.path)
        except MediaError as exc:
            log.warning("%s: SyncNet could not decode its 25-fps frames (%s); syncnet_* left null", exc.path, exc.cause)
            return dict.fromkeys(("syncnet_offset_frames", "syncnet_lse_c", "syncnet_lse_d"))
        return self.score(crops, times, clip.audio, found)


def _onnx_embed(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(lip, aud):
        return session.run(["lip_embedding", "audio_embedding"], {"lip": lip, "mfcc": aud})

    return embed


def _torch_embed(path: Path):
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{path}: .safetensors SyncNet weights run with PyTorch, which is not installed; "
                          "install tqscore[train] or convert them to ONNX on a machine with torch: "
                          f"`tqscore export-syncnet {path.name} --out syncnet.onnx`") from exc
    from safetensors.torch import load_file

    from tqscore.signals.syncnet_model import SyncNet, load_state

    model = load_state(SyncNet(), load_file(str(path)), str(path))

    def embed(lip, aud):
        with torch.inference_mode():
            a, b = model(torch.from_numpy(lip), torch.from_numpy(aud))
        return a.numpy(), b.numpy()

    return embed
