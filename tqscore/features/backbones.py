"""The two pretrained backbones: ResNet101 (visual, docs/method.md §2) and HuBERT-Base (audio, §3).

Both come through ``transformers`` (``ResNetModel`` / ``HubertModel``) because the public
weights (``microsoft/resnet-101``, ``facebook/hubert-base-ls960``) are published in that format
and ``from_pretrained`` takes either a hub id or a local folder. Weights are loaded with
``use_safetensors=True`` only: a user's folder is never unpickled. Machines without hub access
pass a local folder (see ``BackboneLoadError``).

Audio alignment: HuBERT gives one step per 20 ms (50 per second) of the WHOLE clip, while the
standard clip's frames are a uniform sample of it (150 of however many). The seed interpolated
the hidden states "to 150 steps"; interpolating at the selected frames' own times does that for
6-s clips and keeps every audio step aligned with its frame for longer or shorter clips, where
a plain stretch to 150 would not. Padding frames get zero rows, like every other stream.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from tqscore.errors import FeatureError
from tqscore.layout import SAMPLE_RATE, STREAM_WIDTHS

log = logging.getLogger(__name__)

DEFAULT_RESNET = "microsoft/resnet-101"
DEFAULT_HUBERT = "facebook/hubert-base-ls960"

# The hub's main branch of both default models holds only pickled pytorch_model.bin; their
# safetensors copies sit in the hub converter bot's pull request (transformers finds it itself
# when the hub is reachable; a manual download has to name it).
SAFETENSORS_REVISION = {DEFAULT_RESNET: "refs/pr/2", DEFAULT_HUBERT: "refs/pr/2"}

# HuBERT's conv front end: a 400-sample receptive field moved in 320-sample (20 ms) strides.
HUBERT_STRIDE = 320
HUBERT_FIELD = 400


class BackboneLoadError(FeatureError):
    """A backbone's weights could not be loaded; the message says what to pass instead."""


def _looks_like_path(name_or_path: str) -> bool:
    """Hub ids are "name" or "org/name"; anything else is meant as a folder."""
    return (
        os.path.exists(name_or_path)
        or name_or_path.startswith((".", "/", "~"))
        or name_or_path.count("/") > 1
        or "\\" in name_or_path
    )


def load_pretrained(model_class, name_or_path: str, what: str, option: str, default_id: str):
    """``model_class.from_pretrained`` with an error that tells a user without hub access what to do."""
    local = Path(name_or_path).expanduser()
    if _looks_like_path(name_or_path) and not local.is_dir():
        raise BackboneLoadError(f"{what}: no model folder at {local} (pass {option} a folder made by save_pretrained)")
    source = str(local) if local.is_dir() else name_or_path
    try:
        return model_class.from_pretrained(source, use_safetensors=True)
    except (OSError, ValueError) as error:
        if local.is_dir():
            pickled_only = (local / "pytorch_model.bin").exists() and not list(local.glob("*.safetensors"))
            hint = (
                "it holds only pickled weights (pytorch_model.bin), which tqscore never loads; "
                f"download the safetensors copy instead (e.g. `{_download_hint(default_id)}`)"
                if pickled_only
                else str(error)
            )
            raise BackboneLoadError(f"{what}: could not load the model in {local}: {hint}") from error
        raise BackboneLoadError(
            f"{what}: could not load '{name_or_path}' from the Hugging Face hub or its local cache "
            f"({str(error).splitlines()[0]}). On a machine without hub access, download it where the hub "
            f"is reachable (`{_download_hint(name_or_path)}`), copy the folder over and pass {option} PATH_TO_FOLDER."
        ) from error


def _download_hint(hub_id: str) -> str:
    revision = SAFETENSORS_REVISION.get(hub_id)
    return f"hf download {hub_id}" + (f" --revision {revision}" if revision else "") + f" --local-dir ./{hub_id.split('/')[-1]}"


def _device(device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackboneLoadError(f"device '{device}' was asked for, but this torch build sees no CUDA device")
    return torch.device(device)


class VisualBackbone:
    """ResNet without its classifier: normalised crops (n, 3, 224, 224) -> pooled (n, 2048)."""

    def __init__(self, name_or_path: str = DEFAULT_RESNET, device: str = "cpu", batch_size: int = 64):
        from transformers import ResNetModel

        self.name = name_or_path
        self.device = _device(device)
        self.batch_size = batch_size
        self.model = load_pretrained(ResNetModel, name_or_path, "ResNet", "--resnet", DEFAULT_RESNET).to(self.device).eval()
        width = self.model.config.hidden_sizes[-1]
        if width != STREAM_WIDTHS["visual"]:
            raise BackboneLoadError(f"ResNet {name_or_path} gives {width}-d features; the layout needs {STREAM_WIDTHS['visual']}")

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        out = np.zeros((len(images), STREAM_WIDTHS["visual"]), np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = torch.from_numpy(images[start : start + self.batch_size]).to(self.device)
                pooled = self.model(pixel_values=batch).pooler_output
                out[start : start + len(batch)] = pooled.flatten(1).float().cpu().numpy()
        return out


class AudioBackbone:
    """HuBERT: 16 kHz mono audio -> last hidden state (steps, 768), sampled at given times."""

    def __init__(
        self,
        name_or_path: str = DEFAULT_HUBERT,
        device: str = "cpu",
        batch_size: int = 8,
        window_s: float = 30.0,
    ):
        from transformers import HubertModel

        self.name = name_or_path
        self.device = _device(device)
        self.batch_size = batch_size
        self.window_s = window_s
        self.model = load_pretrained(HubertModel, name_or_path, "HuBERT", "--hubert", DEFAULT_HUBERT).to(self.device).eval()
        self.normalize = _wants_normalized_input(name_or_path)
        width = self.model.config.hidden_size
        if width != STREAM_WIDTHS["audio"]:
            raise BackboneLoadError(f"HuBERT {name_or_path} gives {width}-d features; the layout needs {STREAM_WIDTHS['audio']}")

    def hidden_states(self, audio: np.ndarray) -> np.ndarray:
        """float32 (samples,) -> (steps, 768), one step per 20 ms."""
        return self._run(hubert_windows(audio, (), self.normalize, self.window_s))

    def at_times(self, audio: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Hidden states linearly interpolated at ``times`` (seconds): (len(times), 768) float32."""
        return interpolate_steps(self._run(hubert_windows(audio, times, self.normalize, self.window_s)), times)

    def _run(self, windows: list[np.ndarray]) -> np.ndarray:
        import torch

        parts = []
        with torch.inference_mode():
            for start in range(0, len(windows), self.batch_size):
                # Full windows share one length and batch; a shorter last window runs alone
                # (HuBERT-Base has no attention mask, so zero padding would change the result).
                for same in _runs_of_equal_length(windows[start : start + self.batch_size]):
                    batch = torch.from_numpy(np.stack(same)).to(self.device)
                    parts.extend(self.model(input_values=batch).last_hidden_state.float().cpu().numpy())
        return np.concatenate(parts, axis=0)


def hubert_windows(audio: np.ndarray, times, normalize: bool, window_s: float = 30.0) -> list[np.ndarray]:
    """The audio windows HuBERT runs on for one clip, in order (the one definition of them).

    Silence is appended to cover the last frame time (+40 ms), so frames after the end of a
    short audio track see silence rather than a copy of the last step; at least one receptive
    field; zero-mean / unit-variance when the model wants it. Attention cost grows with the
    square of the length, so long clips run in ``window_s`` windows, overlapping by
    (field - stride) samples so each yields exactly window / stride steps and the concatenated
    steps stay on one 20-ms grid.
    """
    audio = np.asarray(audio, np.float32)
    if len(times):
        needed = int(np.ceil((np.max(times) + 0.04) * SAMPLE_RATE))
        audio = np.pad(audio, (0, max(0, needed - len(audio))))
    if len(audio) < HUBERT_FIELD:
        audio = np.pad(audio, (0, HUBERT_FIELD - len(audio)))
    if normalize:
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    window = int(window_s * SAMPLE_RATE) // HUBERT_STRIDE * HUBERT_STRIDE
    overlap = HUBERT_FIELD - HUBERT_STRIDE
    windows = [audio[s : s + window + overlap] for s in range(0, max(len(audio) - overlap, 1), window)]
    windows[-1] = np.pad(windows[-1], (0, max(0, HUBERT_FIELD - len(windows[-1]))))
    return windows


def step_times(n_steps: int) -> np.ndarray:
    """Centre time (s) of each HuBERT step's receptive field."""
    return (np.arange(n_steps) * HUBERT_STRIDE + HUBERT_FIELD / 2) / SAMPLE_RATE


def interpolate_steps(hidden: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of (steps, d) hidden states at ``times``; clamps outside the range."""
    centres = step_times(len(hidden))
    times = np.asarray(times, np.float64)
    right = np.clip(np.searchsorted(centres, times), 1, max(len(centres) - 1, 1))
    left = right - 1
    if len(centres) == 1:
        return np.repeat(hidden[:1], len(times), axis=0).astype(np.float32)
    weight = np.clip((times - centres[left]) / (centres[right] - centres[left]), 0.0, 1.0)[:, None]
    return ((1 - weight) * hidden[left] + weight * hidden[right]).astype(np.float32)


def _runs_of_equal_length(arrays: list[np.ndarray]) -> list[list[np.ndarray]]:
    runs: list[list[np.ndarray]] = []
    for array in arrays:
        if runs and len(runs[-1][0]) == len(array):
            runs[-1].append(array)
        else:
            runs.append([array])
    return runs


def _wants_normalized_input(name_or_path: str) -> bool:
    """Whether the model's feature extractor zero-means / unit-scales the waveform (do_normalize).

    HuBERT-Base was trained on raw waveforms, the Large models on normalised ones; the model
    folder's preprocessor_config.json says which. Without that file, raw input.
    """
    from transformers import Wav2Vec2FeatureExtractor

    try:
        source = str(Path(name_or_path).expanduser()) if Path(name_or_path).expanduser().is_dir() else name_or_path
        return bool(Wav2Vec2FeatureExtractor.from_pretrained(source).do_normalize)
    except (OSError, ValueError):
        log.debug("no feature-extractor config for %s; feeding the raw waveform", name_or_path)
        return False
