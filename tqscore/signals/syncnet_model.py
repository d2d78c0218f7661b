"""SyncNet (Chung & Zisserman 2016) as syncnet_python's ``SyncNetModel.S``, in PyTorch.

Module and parameter names match syncnet_python's state dict (``netcnnaud.0.weight``, ...), so
``syncnet_v2.model`` loads without renaming. Inputs as syncnet_python feeds them:
lip: (N, 3, 5, 224, 224) BGR pixels 0-255, five consecutive face-crop frames;
audio: (N, 1, 13, 20) MFCC, 20 steps of 10 ms = the same 0.2 s. Each branch gives a
1024-d embedding; in-sync pairs are close in Euclidean distance.

Imported only by the export command and by the PyTorch scoring path (torch is the optional
``train`` extra); the serving path runs the ONNX graph this module exports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

EMBEDDING = 1024


def _conv2d(cin, cout, **kw):
    return [nn.Conv2d(cin, cout, **kw), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _conv3d(cin, cout, **kw):
    return [nn.Conv3d(cin, cout, **kw), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


def _head():
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, EMBEDDING))


class SyncNet(nn.Module):
    def __init__(self):
        super().__init__()
        # Layer order and indices are syncnet_python's: parameter names depend on them.
        self.netcnnaud = nn.Sequential(
            *_conv2d(1, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            *_conv2d(64, 192, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            *_conv2d(192, 384, kernel_size=(3, 3), padding=(1, 1)),
            *_conv2d(384, 256, kernel_size=(3, 3), padding=(1, 1)),
            *_conv2d(256, 256, kernel_size=(3, 3), padding=(1, 1)),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            *_conv2d(256, 512, kernel_size=(5, 4), padding=(0, 0)),
        )
        self.netfcaud = _head()
        self.netfclip = _head()
        self.netcnnlip = nn.Sequential(
            *_conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            *_conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_conv3d(256, 512, kernel_size=(1, 6, 6), padding=0),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))

    def forward(self, lip: torch.Tensor, mfcc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_lip(lip), self.forward_aud(mfcc)


def load_state(model: SyncNet, state: dict[str, torch.Tensor], source: str) -> SyncNet:
    """Copy a syncnet_python state dict in; names or shapes that do not match are an error naming
    ``source``. BatchNorm's ``num_batches_tracked`` counters are optional (old torch wrote none)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source}: not SyncNet (syncnet_python SyncNetModel.S) weights: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), "
            f"{len(wrong)} with another shape (e.g. {wrong[:3]})"
        )
    model.load_state_dict(state, strict=False)
    return model.eval()


def export_syncnet_onnx(model: SyncNet, path: Path) -> Path:
    """One graph, inputs ``lip`` and ``mfcc`` with a dynamic batch, outputs both embeddings."""
    from tqscore.onnx_export import export_onnx

    inputs = {"lip": np.zeros((2, 3, 5, 224, 224), np.float32), "mfcc": np.zeros((2, 1, 13, 20), np.float32)}
    outputs = ["lip_embedding", "audio_embedding"]
    return export_onnx(model, path, inputs, outputs, {name: {0: "batch"} for name in (*inputs, *outputs)})
