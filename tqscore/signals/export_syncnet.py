"""Converting syncnet_python's SyncNet weights once, for ``tqscore export-syncnet``.

The only place tqscore reads a pickled file: syncnet_python's ``syncnet_v2.model`` is a torch
state dict, read here with ``torch.load(..., weights_only=True)``, which restores tensors and
plain containers and refuses any other pickled object. A file that needs full unpickling (a
whole pickled module, custom classes) is refused with the reason; load it yourself in a trusted
environment, save its ``state_dict()`` with ``torch.save`` and convert that.

Output by suffix: ``.onnx`` (both branches in one graph, what ``tqscore batch`` runs with ONNX
Runtime) or ``.safetensors`` (the tensors, for the PyTorch path). The input may also be a
``.safetensors`` file from an earlier conversion. Needs torch (the ``train`` extra). An
existing output is replaced only by a complete new file.
"""

from __future__ import annotations

from pathlib import Path

from tqscore.errors import SignalError
from tqscore.io import atomic_write


class ConversionError(SignalError):
    """A SyncNet checkpoint that cannot be converted; the message names the file."""


def read_state(path: Path) -> dict:
    """The state dict of ``path`` as torch tensors; ConversionError naming the file otherwise."""
    import pickle

    import torch

    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConversionError(
            f"{path}: refused: the file needs full unpickling, which can run arbitrary code "
            f"({str(exc).splitlines()[0]}). Load it in a trusted environment, save model.state_dict() "
            "with torch.save, and convert that file."
        ) from exc
    except (RuntimeError, OSError, EOFError) as exc:
        raise ConversionError(f"{path}: not a readable torch file ({exc})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path}: expected a state dict of tensors, found {type(state).__name__}")
    return state


def convert(src: Path, out: Path) -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ConversionError(f"converting SyncNet weights needs PyTorch (install tqscore[train]): {exc}") from exc
    from tqscore.signals.syncnet_model import SyncNet, export_syncnet_onnx, load_state

    if out.suffix not in (".onnx", ".safetensors"):
        raise ConversionError(f"{out}: output must end in .onnx or .safetensors")
    state = read_state(src)
    try:
        model = load_state(SyncNet(), state, str(src))
    except ValueError as exc:
        raise ConversionError(str(exc)) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".onnx":
        export_syncnet_onnx(model, out)
        return
    from safetensors.torch import save_file

    with atomic_write(out) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"format": "syncnet_python SyncNetModel.S", "source": src.name})
