"""The one ONNX exporter: every graph tqscore writes (the three served graphs, SyncNet) goes through it.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``, chosen over the
torch.export-based default for the reasons in :mod:`tqscore.export.graphs` (node names that
carry the module path, folded weight norms, plain attention); it is deprecated upstream (a
DeprecationWarning since torch 2.9), so the choice lives here alone.

Opset 17 is the first with LayerNormalization as one op (fewer, FP32-pinnable layers in
TensorRT); ONNX Runtime and TensorRT 10 both support it.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tqscore.io import atomic_write

log = logging.getLogger(__name__)

OPSET = 17


def export_onnx(module, path: str | os.PathLike, inputs: Mapping[str, np.ndarray], output_names: Sequence[str],
                dynamic_axes: Mapping[str, Mapping[int, str]]) -> Path:
    """Trace ``module`` (eval mode) on ``inputs`` (name -> example array, in forward's order) into ``path``."""
    import torch

    # The exporter restores the module's training flag on exit by calling .train(flag) on the
    # top module, which recurses: an eval() top module keeps BatchNorm/Dropout in eval after.
    module = module.eval()
    args = tuple(torch.from_numpy(np.asarray(a)) for a in inputs.values())
    path = Path(path)
    with atomic_write(path) as tmp, warnings.catch_warnings(), torch.no_grad():
        # The exporter's own deprecation notices: the choice is deliberate (module docstring).
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            args,
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=list(output_names),
            dynamic_axes={k: dict(v) for k, v in dynamic_axes.items()},
            do_constant_folding=True,
        )
    log.info("exported %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return path
