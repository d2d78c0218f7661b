"""``tqscore export-syncnet syncnet_v2.model --out syncnet.onnx``: convert SyncNet weights once.

Output by suffix: ``.onnx`` (both branches in one graph, what ``tqscore batch`` runs with ONNX
Runtime) or ``.safetensors`` (the tensors, for the PyTorch path). The input may also be a
``.safetensors`` file from an earlier conversion. Needs torch (the ``train`` extra); pickled
input is read with ``torch.load(weights_only=True)`` only (see tqscore.signals.export_syncnet).

Exit codes: 0 written; 2 unreadable or unsuitable input, or a bad output name (an existing
output is replaced only by a complete new file).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export-syncnet",
        help="convert syncnet_python weights (syncnet_v2.model) to ONNX or safetensors, once",
        description="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("weights", type=Path, help="syncnet_v2.model (torch state dict) or a .safetensors conversion")
    p.add_argument("--out", type=Path, required=True, help="output file: NAME.onnx or NAME.safetensors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqscore.signals.export_syncnet import convert

    convert(args.weights, args.out)
    print(f"wrote {args.out}")
    return 0
