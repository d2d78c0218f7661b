"""The E0-E8 ablation table on a synthetic labelled set (a demonstration of the pipeline).

The synthetic set (``tqscore.training.synthetic``) plants each dimension in two modalities, so
the table shows the machinery working (what each experiment changes, the Pearson r it reaches),
not the seed's findings about real talking-face data. Short clips keep the CPU run to minutes.

    python benchmarks/training_ablation.py [--clips 300] [--frames 16] [--epochs 6] [--out DIR]
"""

from __future__ import annotations

import logging
import tempfile
import time

import torch

import common

from tqscore.training.ablation import ablation_markdown, run_ablation
from tqscore.training.synthetic import synthetic_feature_set


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--clips", type=int, default=300)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--config", default="optimized")
    p.add_argument("--threads", type=int, default=1, help="torch threads [1: the machine is shared]")
    p.add_argument("--out", default=None, help="folder for the experiments' checkpoints [a new temporary folder]")
    args = p.parse_args()
    if args.smoke:  # every experiment, one epoch of a few short synthetic clips
        args.clips, args.frames, args.epochs, args.config = 40, 8, 1, "standard"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    out = args.out or tempfile.mkdtemp(prefix="tqscore-ablation-")
    data = synthetic_feature_set(args.clips, frames=args.frames, seed=0)
    start = time.perf_counter()
    train = {"epochs": args.epochs, "batch_size": 16, "warmup_epochs": 1, "max_fit_frames": 20_000}
    if args.smoke:  # float32: the bf16 probe (8 timed steps per experiment) is tested in test_training_train
        train["cpu_bf16"] = False
    table = run_ablation(data, out, args.config, "standard", train_overrides=train,
                         model_overrides={"n_frames": args.frames})
    print(f"{args.clips} synthetic clips x {args.frames} frames, {args.epochs} epochs per experiment, "
          f"{time.perf_counter() - start:.0f} s in all\n")
    print(ablation_markdown(table), end="")


if __name__ == "__main__":
    main()
