"""``tqscore export --model BUNDLE --out ENGINE_DIR``: build what the runtime serves.

Writes the FP32 ONNX graphs, their FP16 copies and (where tensorrt and a GPU exist) TensorRT
FP16 engines built from those, with a manifest, into ENGINE_DIR. Files that are already up to date are kept; after a GPU, driver or
TensorRT upgrade the same command rebuilds exactly the engines that no longer fit.
Without --model, ENGINE_DIR's ONNX graphs and manifest are all it needs: `--formats engine`
(the default then) makes the FP16 graphs and builds the TensorRT engines with no bundle, torch
or transformers.

Exit codes: 0 done; 2 bad arguments, an unusable bundle or backbone, or a format that cannot be
built here (nothing already in ENGINE_DIR is lost: files are replaced only when complete).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _batch_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return sizes


def add_parser(subparsers) -> None:
    from tqscore.export.formats import FORMATS, format_table
    from tqscore.export.trt import DEFAULT_CLIP_BATCHES, DEFAULT_IMAGE_BATCHES
    from tqscore.features.backbones import DEFAULT_HUBERT, DEFAULT_RESNET

    p = subparsers.add_parser(
        "export",
        help="build ONNX graphs and TensorRT engines (with a manifest) from a model bundle",
        description="\n".join(__doc__.splitlines()[2:]),
        epilog="formats:\n" + format_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", type=Path, default=None, metavar="BUNDLE",
                   help="model bundle folder from `tqscore train`; needed for the ONNX formats, not for `engine`")
    p.add_argument("--out", type=Path, required=True, metavar="ENGINE_DIR", help="engine folder to create or update")
    p.add_argument("--formats", default=None,
                   help=f"comma-separated formats from: {', '.join(FORMATS)} (default: all that can be built here, "
                   "onnx-int8 only with --calibrate; without --model: engine, or onnx-int8 with --calibrate)")
    p.add_argument("--resnet", default=DEFAULT_RESNET, metavar="PATH_OR_ID",
                   help="ResNet101 weights: local folder or hub id (default: %(default)s)")
    p.add_argument("--hubert", default=DEFAULT_HUBERT, metavar="PATH_OR_ID",
                   help="HuBERT-Base weights: local folder or hub id (default: %(default)s)")
    p.add_argument("--batch-sizes", type=_batch_list, default=DEFAULT_IMAGE_BATCHES, metavar="N,N",
                   help="crops per visual-engine call to tune TensorRT profiles for (default: 64,150)")
    p.add_argument("--clip-batch-sizes", type=_batch_list, default=DEFAULT_CLIP_BATCHES, metavar="N,N",
                   help="clips per audio/fusion-engine call to tune TensorRT profiles for (default: 1,8)")
    p.add_argument("--calibrate", type=Path, default=None, metavar="VIDEO_DIR",
                   help="videos whose face crops calibrate the onnx-int8 format (required by it; a few dozen "
                   "clips like the ones to be scored)")
    p.add_argument("--force", action="store_true", help="rebuild everything, even files that are up to date")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqscore.export.formats import FORMATS, FormatError, run_export, select_formats
    from tqscore.export.job import ExportJob
    from tqscore.export.manifest import MANIFEST_NAME

    requested = args.formats
    if requested is None and args.model is None:
        requested = "onnx-int8" if args.calibrate is not None else "engine"
    formats = select_formats(requested)
    if args.formats is None and args.calibrate is not None and FORMATS["onnx-int8"] not in formats:
        # --calibrate alone means "and the INT8 graph too" (it is never in the default set without it).
        formats = [f for f in FORMATS.values() if f in formats or f.name == "onnx-int8"]
    if args.model is None and (needs := [f.name for f in formats if f.needs_bundle]):
        raise FormatError(f"format(s) {needs} are made from a model bundle: pass --model BUNDLE")
    job = ExportJob(args.model, args.out, args.resnet, args.hubert, args.batch_sizes, args.clip_batch_sizes,
                    args.force, args.progress, args.calibrate)
    written = run_export(job, formats)
    print(f"{args.out / MANIFEST_NAME}: formats {', '.join(f.name for f in formats)}; "
          f"{len(written)} file(s) written, the rest up to date")
    for name, figures in sorted(job.manifest.parity.items()):
        shown = ", ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        print(f"  {name}: {shown}")
    return 0
