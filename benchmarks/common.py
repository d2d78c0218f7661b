"""What every benchmark script shares: its command line, the shared clips, the machine it ran on.

Every script in this folder takes ``--smoke``: tiny models, one or two shared clips, seconds of
work, so that ``tests/test_benchmarks.py`` runs it in CI and a refactor that breaks a benchmark
breaks the build. The full mode (no ``--smoke``) is what ``benchmarks/run_all.py`` runs to write a
dated record under ``docs/notes/``. Scripts are run as ``python benchmarks/NAME.py``, which puts this folder on
``sys.path``, so ``import common`` needs no package; the clip and sound makers they share with
the tests come from ``tqscore.testing``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from pathlib import Path

from tqscore.testing import MEDIA, SHARED
from tqscore.testing.backbones import save_tiny_hubert, save_tiny_resnet

REPO = Path(__file__).resolve().parents[1]
CORPUS = SHARED / "corpus"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the ``--smoke`` flag every benchmark takes."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--smoke", action="store_true",
                   help="tiny models and one or two clips: checks the script runs, measures nothing worth quoting")
    return p


def is_real(path: str | Path) -> bool:
    """A real recording: ../shared keeps them in folders named ``real`` (SOURCES.md)."""
    return "real" in Path(path).parts[:-1]


def media_clips() -> list[Path]:
    """The suite's fixed clips: real first, then generated (../shared/media)."""
    return sorted((MEDIA / "real").glob("*.mp4")) + sorted((MEDIA / "generated").glob("*.mp4"))


# What a --smoke run reads: the first SMOKE_SECONDS of the smallest shared clip (256x256, 25 fps,
# with its speech). 4 s is past the sync estimate's shortest face span (SyncConfig.min_span_s,
# 3 s), so every signal, sync included, has a value; the whole 8-s 512x512 clips cost a smoke run
# 3-4x the front-end time for no extra code path.
SMOKE_SOURCE = MEDIA / "generated" / "sadtalker_art2_radio31.mp4"
SMOKE_SECONDS = 4.0


def smoke_clip(folder: Path) -> Path:
    """The smoke runs' clip, re-encoded into ``folder`` once (x264 + AAC, well under a second)."""
    from tqscore.testing.media_variants import reencode

    path = folder / f"smoke_{SMOKE_SOURCE.stem}.mp4"
    return path if path.exists() else reencode(SMOKE_SOURCE, path, seconds=SMOKE_SECONDS)


def machine() -> dict[str, str]:
    """CPU model, cores, memory, GPU and load: the line each benchmark page starts with."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "unknown"
    try:
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):
        gpu = "none"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": memory, "gpu": gpu, "load": load}


def random_backbones(folder: Path, full: bool = True) -> tuple[Path, Path]:
    """ResNet101 and HuBERT-Base with random weights (full: the real shapes, which cost what
    trained weights cost), or the tests' tiny ones for ``--smoke``; saved and loaded by path, as
    a user without hub access would."""
    tag = "full" if full else "tiny"
    paths = folder / f"resnet-{tag}", folder / f"hubert-{tag}"
    if not full:
        return save_tiny_resnet(paths[0]), save_tiny_hubert(paths[1])
    import torch
    from transformers import HubertConfig, HubertModel, ResNetConfig, ResNetModel

    torch.manual_seed(0)
    resnet = ResNetConfig(depths=[3, 4, 23, 3], hidden_sizes=[256, 512, 1024, 2048], layer_type="bottleneck")
    ResNetModel(resnet).eval().save_pretrained(paths[0])
    HubertModel(HubertConfig()).eval().save_pretrained(paths[1])  # defaults = HuBERT-Base
    return paths


# A held picture as a real encoder writes it: x264 at its default CRF 23, 25 fps; 2 grey levels of
# per-frame sensor noise. Both noise-floor measurements (head pose, frozen frames) start from it.
HOLD_S, HOLD_FPS, HOLD_CRF, SENSOR_SIGMA = 4.0, 25, "23", 2.0


def first_frame(path):
    """The first decoded frame of ``path``, RGB."""
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def encode_held(frame, n: int, sigma: float, target, seed: int = 0, container_format: str | None = None):
    """``n`` copies of ``frame`` (plus per-frame noise of ``sigma`` grey levels) encoded with x264 into
    ``target`` (a path, or a file object with ``container_format``)."""
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    with av.open(target if container_format else str(target), "w", format=container_format) as out:
        stream = out.add_stream("libx264", rate=HOLD_FPS, options={"crf": HOLD_CRF})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            img = frame[:h, :w].astype(np.float32)
            if sigma:
                img += rng.normal(0, sigma, img.shape[:2])[..., None]
            vf = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            vf.pts = i
            out.mux(stream.encode(vf))
        out.mux(stream.encode(None))
    return target
