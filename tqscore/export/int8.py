"""INT8 ResNet101 for CPUs: static QDQ quantization calibrated on face crops of the user's clips.

On the CPU ResNet101 is ~93 % of a clip's cost in FP32. Static quantization (weights and
activations in INT8, activation ranges fixed from calibration data) lets ONNX Runtime run the
convolutions as INT8 GEMMs, which processors with AVX-512 VNNI / AVX-VNNI (or AMX) execute at
several times the FP32 rate. Choices, measured by ``benchmarks/int8.py`` (docs/export.md):

- **ONNX Runtime's quantizer** (``onnxruntime.quantization.quantize_static``), QDQ format,
  per-channel INT8 weights, unsigned INT8 activations (the U8S8 pair x86 VNNI kernels take),
  MinMax ranges. The result is an ordinary ONNX graph served by the same ONNX Runtime as every
  other graph. OpenVINO runs the same QDQ file and was measured on it: 0.96-1.4x ONNX Runtime's
  INT8 speed at the same cosine on this CPU, not enough to serve a second runtime (180 MB
  installed) and a second code path for one graph.
- **Calibration data = face crops from the user's own clips** (``--calibrate VIDEO_DIR``): the
  activation ranges must be those of the crops the model will see, made by the same front end
  (decode, Face Mesh, crop: ``tqscore.features.frontend.run_frontend``). There is no built-in
  fallback (synthetic or random inputs set ranges that real faces overflow or waste): the format
  refuses to run without ``--calibrate``. One crop in four is held out and the INT8 graph is
  compared with the FP32 graph on it (cosine of the 2048-d features), recorded in the manifest.
- HuBERT stays FP32: it is ~5 % of a clip's CPU cost, so INT8 could save little.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tqscore.errors import ExportError, TqscoreError

log = logging.getLogger(__name__)

CROPS_PER_CLIP = 24  # evenly spread over a clip's 150 standard frames: poses and expressions vary
MAX_CROPS = 384  # calibration cost grows linearly; ranges from a few hundred crops are stable
HOLDOUT_EVERY = 4  # every 4th crop is kept out of calibration and measures the INT8 graph
CALIBRATION_BATCH = 16


class CalibrationError(ExportError):
    """No usable calibration crops (no folder, no videos, no faces); the message says which."""


@dataclass
class Calibration:
    crops: np.ndarray  # float32 (n, 3, 224, 224), ImageNet-normalised like the runtime's
    clips: list[str]  # the clips the crops came from
    skipped: list[str]  # "path: reason" for clips that gave none


def calibration_crops(video_dir: str | Path, per_clip: int = CROPS_PER_CLIP, max_crops: int = MAX_CROPS,
                      progress: bool = False) -> Calibration:
    """Face crops (crop kind CROP_FACE) from the videos under ``video_dir``, normalised for the graph."""
    from tqscore.features.crops import CROP_FACE, normalize
    from tqscore.features.frontend import run_frontend
    from tqscore.media.discovery import discover

    root = Path(video_dir)
    try:
        files = discover(root)
    except TqscoreError as exc:
        raise CalibrationError(f"--calibrate {root}: {exc}") from exc
    if not files:
        raise CalibrationError(f"--calibrate {root}: no video files found")
    crops, used, skipped = [], [], []
    total = 0
    for rel in tqdm(files, desc="calibration clips", unit="clip", disable=not progress):
        if total >= max_crops:
            break
        try:
            frontend = run_frontend(root / rel, observers=[])
        except TqscoreError as exc:
            skipped.append(f"{rel}: {exc}")
            log.warning("calibration: skipping %s: %s", rel, exc)
            continue
        faces = frontend.crops[frontend.crop_kinds == CROP_FACE]
        if not len(faces):
            skipped.append(f"{rel}: no face found")
            continue
        take = min(per_clip, len(faces), max_crops - total)
        crops.append(normalize(faces[np.linspace(0, len(faces) - 1, take).round().astype(int)]))
        used.append(rel)
        total += take
    if total < HOLDOUT_EVERY * 2:
        raise CalibrationError(
            f"--calibrate {root}: {total} face crop(s) from {len(files)} video(s), at least {HOLDOUT_EVERY * 2} "
            f"needed" + (f"; skipped: {'; '.join(skipped[:5])}" if skipped else "")
        )
    return Calibration(np.concatenate(crops), used, skipped)


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader protocol over an array of crops."""

    def __init__(self, crops: np.ndarray, input_name: str):
        self.batches = iter([{input_name: crops[i : i + CALIBRATION_BATCH]} for i in range(0, len(crops), CALIBRATION_BATCH)])

    def get_next(self):
        return next(self.batches, None)


def quantize_visual(fp32_path: Path, out_path: Path, crops: np.ndarray, input_name: str = "pixel_values") -> Path:
    """Static QDQ INT8 copy of ``fp32_path`` calibrated on ``crops``, written atomically to ``out_path``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from tqscore.io import atomic_write

    with tempfile.TemporaryDirectory(prefix="tqscore-int8-") as tmp, atomic_write(out_path) as target:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference + constant folding first, as the quantizer's documentation asks; the
        # symbolic pass is for transformers' dynamic shapes, which ResNet101 does not have.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(target), _Reader(crops, input_name),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return out_path


def feature_cosines(found: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity per row of two (n, d) feature arrays."""
    found, reference = found.astype(np.float64), reference.astype(np.float64)
    norms = np.linalg.norm(found, axis=1) * np.linalg.norm(reference, axis=1)
    return np.sum(found * reference, axis=1) / np.maximum(norms, 1e-30)


def int8_parity(int8_path: Path, fp32_path: Path, crops: np.ndarray) -> dict[str, float]:
    """INT8 vs FP32 graph (ONNX Runtime CPU) on held-out crops: cosine of the pooled features."""
    import onnxruntime as ort

    runs = []
    for path in (int8_path, fp32_path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        runs.append(np.concatenate([session.run(None, {name: crops[i : i + CALIBRATION_BATCH]})[0]
                                    for i in range(0, len(crops), CALIBRATION_BATCH)]))
    cos = feature_cosines(*runs)
    return {"int8_vs_fp32_cosine_min": float(cos.min()), "int8_vs_fp32_cosine_mean": float(cos.mean()),
            "int8_heldout_crops": float(len(crops))}


INT8_FILES = {"visual": "resnet101.int8.onnx"}
METHOD = "onnxruntime quantize_static QDQ, per-channel s8 weights, u8 activations, MinMax ranges"


def quantized_problem(manifest, engine_dir: Path, graph: str = "visual", check_hash: bool = True) -> str | None:
    """Why the INT8 copy of ``graph`` cannot serve, or None when it can."""
    from tqscore.export.manifest import sha256_file

    entry = manifest.quantized.get(graph)
    if entry is None:
        return f"{engine_dir}: no INT8 {graph} graph; build one with `tqscore export --formats onnx-int8 --calibrate VIDEO_DIR --out {engine_dir}`"
    current = manifest.graphs.get(graph)
    if current is None or entry.onnx_sha256 != current.sha256:
        return f"{engine_dir / entry.file}: stale, quantized from an older {current.file if current else graph} graph; run the onnx-int8 export again"
    path = engine_dir / entry.file
    if not path.is_file():
        return f"{path}: listed in the manifest but missing"
    if check_hash and sha256_file(path) != entry.sha256:
        return f"{path}: contents differ from the manifest (modified after quantization)"
    return None
