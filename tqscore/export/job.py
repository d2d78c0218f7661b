"""One export run: its options, the lazily loaded PyTorch modules, and the manifest it updates.

Every format function (``tqscore.export.formats``) takes an ``ExportJob`` and returns the files
it wrote, so the CLI, the tests and the benchmark drive exports the same way. Modules load on
first use: an engine-only rebuild whose ONNX graphs are current loads no backbone at all.

Without a bundle (``bundle_path=None``) the job works on the ONNX graphs of an existing folder
alone: the serving image (no torch, no transformers, no bundle) rebuilds TensorRT engines that
way, and the manifest's provenance (model id, bundle digest, backbones, the library versions the
graphs were exported with) is kept from the folder's manifest.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tqscore import __version__
from tqscore.export.graphs import audio_module, visual_module, weights_sha256
from tqscore.export.manifest import Manifest, ManifestError, SourceBundle, read_manifest, sha256_files, write_manifest
from tqscore.export.trt import DEFAULT_CLIP_BATCHES, DEFAULT_IMAGE_BATCHES, batch_ranges
from tqscore.features.backbones import DEFAULT_HUBERT, DEFAULT_RESNET
from tqscore.layout import LAYOUT_VERSION

log = logging.getLogger(__name__)

VERSIONED = ("torch", "onnx", "onnxruntime", "transformers", "numpy", "onnxconverter-common", "tensorrt")


@dataclass
class ExportJob:
    bundle_path: Path | None  # None: the folder's ONNX graphs and manifest are all there is
    out: Path
    resnet: str = DEFAULT_RESNET
    hubert: str = DEFAULT_HUBERT
    image_batches: tuple[int, ...] = DEFAULT_IMAGE_BATCHES
    clip_batches: tuple[int, ...] = DEFAULT_CLIP_BATCHES
    force: bool = False
    progress: bool = False  # tqdm bars per format (the CLI turns them on)
    calibrate: Path | None = None  # videos whose face crops calibrate the onnx-int8 format
    _bundle: object = field(default=None, repr=False)
    _modules: dict = field(default_factory=dict, repr=False)
    manifest: Manifest | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.bundle_path = Path(self.bundle_path) if self.bundle_path is not None else None
        self.out = Path(self.out)
        batch_ranges(self.image_batches), batch_ranges(self.clip_batches)  # validate early

    def open(self) -> Manifest:
        """Read the folder's manifest (or start one) and bind it to the bundle being exported."""
        from tqscore.model.bundle import MODEL_FILES, read_meta

        if self.bundle_path is None:
            return self._open_graphs_only()

        meta = read_meta(self.bundle_path)  # checks layout version and labels
        self.out.mkdir(parents=True, exist_ok=True)
        bundle = SourceBundle(path=str(self.bundle_path.resolve()), sha256=sha256_files(self.bundle_path, MODEL_FILES))
        model_id = str(meta.get("model_id") or f"bundle-{bundle.sha256[:12]}")
        old = self._previous_manifest()
        if old is not None and old.bundle.sha256 != bundle.sha256 and not self.force:
            log.info("bundle changed since the last export (%s -> %s): fusion graph and engines will be rebuilt",
                     old.bundle.sha256[:12], bundle.sha256[:12])
        base = old.model_dump() if old is not None else {}
        base.update(
            tqscore_version=__version__,
            layout_version=LAYOUT_VERSION,
            model_id=model_id,
            bundle=bundle.model_dump(),
            versions=library_versions(),
            batch_sizes={"image": sorted(self.image_batches), "clip": sorted(self.clip_batches)},
        )
        self.manifest = Manifest.model_validate(base)
        return self.manifest

    def _open_graphs_only(self) -> Manifest:
        old = read_manifest(self.out)  # no folder, no manifest: nothing to build from, and it says so
        if old.layout_version != LAYOUT_VERSION:
            raise ManifestError(
                f"{self.out}: graphs exported for feature layout {old.layout_version}, this tqscore uses "
                f"{LAYOUT_VERSION}; export them again with `tqscore export --model BUNDLE --out {self.out}`"
            )
        base = old.model_dump()
        # Versions are merged: the graphs keep the torch/transformers they were exported with.
        base.update(versions=base["versions"] | library_versions(),
                    batch_sizes={"image": sorted(self.image_batches), "clip": sorted(self.clip_batches)})
        self.manifest = Manifest.model_validate(base)
        return self.manifest

    def parity_preprocessing(self):
        """The bundle's preprocessing (numpy only, no torch) for realistic fusion parity inputs, or None.

        Taken from ``--model`` or, without it, from the bundle folder the manifest names if it is
        still there with the recorded digest; None where neither is (inputs are then standard normal).
        """
        from safetensors.numpy import load_file

        from tqscore.model.bundle import MODEL_FILES, PREPROCESSING_FILE
        from tqscore.model.preprocess import Preprocessing

        folder = self.bundle_path or Path(self.manifest.bundle.path)
        file = folder / PREPROCESSING_FILE
        if not file.is_file() or sha256_files(folder, MODEL_FILES) != self.manifest.bundle.sha256:
            return None
        return Preprocessing.from_arrays(load_file(str(file)), str(file))

    def _previous_manifest(self) -> Manifest | None:
        if self.force or not (self.out / "manifest.json").is_file():
            return None
        try:
            return read_manifest(self.out)
        except ManifestError as exc:
            log.warning("%s; starting a new manifest", exc)
            return None

    def save(self) -> Path:
        return write_manifest(self.out, self.manifest)

    @property
    def bundle(self):
        if self._bundle is None:
            from tqscore.model.bundle import load_bundle

            self._bundle = load_bundle(self.bundle_path)
        return self._bundle

    def module(self, graph: str):
        """The PyTorch module a graph is exported from (eval mode, CPU, float32)."""
        if graph in self._modules:
            return self._modules[graph]
        if graph == "visual":
            from tqscore.features.backbones import VisualBackbone

            module = visual_module(VisualBackbone(self.resnet).model)
            self.manifest.backbones["visual"] = {"source": self.resnet}
        elif graph == "audio":
            from tqscore.features.backbones import AudioBackbone

            backbone = AudioBackbone(self.hubert)
            module = audio_module(backbone.model)
            self.manifest.backbones["audio"] = {"source": self.hubert, "normalize": backbone.normalize}
        elif graph == "fusion":
            from tqscore.export.fold import FoldedFusion

            module = FoldedFusion(self.bundle.model, self.bundle.preprocessing).eval()
        else:
            raise KeyError(graph)
        self._modules[graph] = module
        return module

    def source(self, graph: str) -> tuple[str, str]:
        """(what the graph's weights come from, their digest) for staleness checks."""
        if graph == "fusion":
            return self.manifest.bundle.path, self.manifest.bundle.sha256
        return (self.resnet if graph == "visual" else self.hubert), weights_sha256(self.module(graph))


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the graphs and engines; absent ones are left out."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0], "tqscore": __version__}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            if name == "onnxruntime":
                try:
                    found[name] = version("onnxruntime-gpu")
                except PackageNotFoundError:
                    pass
    return found
