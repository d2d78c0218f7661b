"""Seconds per training epoch and peak memory at the seed's size, for both configs.

The seed's training split is 1588 clips of T = 150 frames (validation 199). Features are
synthetic, already at the preprocessed widths (100/200/50/17), so the numbers are the model's
cost alone. A full CPU epoch of the optimized config takes tens of minutes, so each run times
``--batches`` training batches and the validation pass on ``--val-clips`` clips, and
extrapolates to 50 batches + 199 clips. Each (config, precision) runs in its own process so
that its peak RSS is its own. Ratios are against the standard config in float32, measured in
the same run.

    python benchmarks/training_epoch.py [--batches 3] [--threads N] [--precisions float32,bfloat16]
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import resource
import time

import common

SEED_TRAIN, SEED_VAL = 1588, 199


def measure(config: str, precision: str, batches: int, val_clips: int, threads: int | None,
            resident: int = SEED_TRAIN) -> dict:
    import numpy as np
    import torch

    from tqscore.layout import LABELS, STREAMS, T
    from tqscore.training.config import load_configs
    from tqscore.training.data import FeatureSet
    from tqscore.training.trainer import Trainer

    if threads:
        torch.set_num_threads(threads)
    model_cfg, train_cfg = load_configs(config)
    rng = np.random.default_rng(0)

    def features(n: int) -> FeatureSet:
        streams = {s.name: rng.standard_normal((n, T, s.pca_components), dtype=np.float32) for s in STREAMS}
        labels = rng.uniform(1, 5, (n, len(LABELS))).astype(np.float32)
        return FeatureSet([str(i) for i in range(n)], streams, np.ones((n, T), np.float32), labels)

    bs = train_cfg.batch_size
    # The seed-size training set sits in memory, as in a real run (``resident`` clips; at least the timed ones).
    full_train = features(max(resident, bs * (batches + 1)))
    train = full_train.subset(np.arange(bs * (batches + 1)))
    val = features(SEED_VAL).subset(np.arange(val_clips))
    cfg = train_cfg.replace(epochs=1, cpu_bf16=precision == "bfloat16", accumulation_steps=1)
    trainer = Trainer(model_cfg, cfg, train.subset(np.arange(bs)), val, "/tmp/tqscore-bench-ckpt", "cpu")
    trainer.precision = precision
    trainer.train_epoch()  # warm-up: one batch (allocator, kernels)
    trainer.train_set = train.subset(np.arange(bs, bs * (batches + 1)))
    start = time.perf_counter()
    trainer.train_epoch()
    per_batch = (time.perf_counter() - start) / batches
    start = time.perf_counter()
    trainer.validate()
    per_val_clip = (time.perf_counter() - start) / val_clips
    n_batches = math.ceil(SEED_TRAIN / bs)
    return {
        "config": config, "precision": precision, "threads": torch.get_num_threads(), "batch_size": bs,
        "params_m": sum(p.numel() for p in trainer.model.parameters()) / 1e6,
        "s_per_batch": per_batch, "s_per_epoch": per_batch * n_batches + per_val_clip * SEED_VAL,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _child(queue, *args):
    queue.put(measure(*args))


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--batches", type=int, default=3, help="timed training batches per run [3]")
    p.add_argument("--val-clips", type=int, default=64, help="timed validation clips per run [64]")
    p.add_argument("--threads", type=int, help="torch intra-op threads [torch default]")
    p.add_argument("--configs", default="standard,optimized")
    p.add_argument("--precisions", default="float32,bfloat16")
    args = p.parse_args()
    resident = SEED_TRAIN
    if args.smoke:  # one batch of the standard config in float32, only the batches it times in memory
        args.configs, args.precisions, args.batches, args.val_clips, resident = "standard", "float32", 1, 2, 0
    ctx = mp.get_context("spawn")
    rows = []
    for config in args.configs.split(","):
        for precision in args.precisions.split(","):
            queue = ctx.Queue()
            proc = ctx.Process(target=_child, args=(queue, config, precision, args.batches, args.val_clips,
                                                    args.threads, resident))
            proc.start()
            rows.append(queue.get())
            proc.join()
    base = next(r for r in rows if r["config"] == "standard" and r["precision"] == "float32") if any(
        r["config"] == "standard" and r["precision"] == "float32" for r in rows) else rows[0]
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; seed size {SEED_TRAIN} train / "
          f"{SEED_VAL} val clips, T=150; extrapolated from {args.batches} batches + {args.val_clips} val clips")
    print("| config | precision | threads | params (M) | s / batch | s / epoch | vs standard fp32 | peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['precision']} | {r['threads']} | {r['params_m']:.1f} | {r['s_per_batch']:.2f} | "
              f"{r['s_per_epoch']:.0f} | {r['s_per_epoch'] / base['s_per_epoch']:.2f}x | {r['peak_rss_gb']:.2f} |")


if __name__ == "__main__":
    main()
