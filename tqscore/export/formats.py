"""The table of export formats: it drives ``tqscore export --formats`` and its validation.

Each format is one function ``(job: ExportJob) -> list[Path]`` that brings its files in the
engine folder up to date and records them in ``job.manifest``; the table says what a format
needs (other formats, installed libraries, a GPU). The default set is every format: one that
cannot be built here is skipped with a warning; one asked for by name is an error instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tqscore.errors import ExportError, TqscoreError
from tqscore.export.graphs import GRAPHS, example_inputs, export_graph
from tqscore.export.job import ExportJob
from tqscore.export.manifest import GraphEntry, ManifestError, check_graph_file, sha256_file, utc_now
from tqscore.export.parity import engine_parity, onnx_parity, parity_inputs
from tqscore.onnx_export import OPSET

log = logging.getLogger(__name__)


class FormatError(ExportError):
    """A format name is unknown or cannot be built on this machine."""


def format_onnx(job: ExportJob) -> list[Path]:
    """FP32 ONNX graphs (opset 17) of ResNet101, HuBERT and the folded fusion model."""
    written = []
    for name, spec in tqdm(GRAPHS.items(), desc="ONNX graphs", unit="graph", disable=not job.progress):
        path = job.out / spec.file
        source, source_sha = job.source(name)
        old = job.manifest.graphs.get(name)
        if not job.force and old is not None and old.source_sha256 == source_sha and old.opset == OPSET:
            try:
                check_graph_file(job.out, name, old)
                log.info("%s: up to date (%s)", path, source)
                continue
            except ManifestError as exc:
                log.warning("%s; exporting again", exc)
        module = job.module(name)
        export_graph(spec, module, path, example_inputs(name, batch=2))
        job.manifest.graphs[name] = GraphEntry(
            file=spec.file,
            sha256=sha256_file(path),
            opset=OPSET,
            inputs=list(spec.inputs),
            outputs=list(spec.outputs),
            source=source,
            source_sha256=source_sha,
            exported_utc=utc_now(),
        )
        bundle = job.bundle if name == "fusion" else None
        figures = onnx_parity(name, module, path, bundle.preprocessing if bundle else None, bundle)
        job.manifest.parity[name] = figures | {"onnx_measured_with": "onnxruntime CPUExecutionProvider"}
        log.info("%s: ONNX Runtime vs PyTorch %s", name, {k: f"{v:.2e}" for k, v in figures.items()})
        written.append(path)
    return written


def format_fp16(job: ExportJob) -> list[Path]:
    """FP16 copies of the FP32 graphs (FP32 islands by node name) that TensorRT engines are built from."""
    from tqscore.export.fp16 import CONVERTER, convert, drift
    from tqscore.export.manifest import HalfEntry

    missing = [g for g in GRAPHS if g not in job.manifest.graphs]
    if missing:
        raise FormatError(f"{job.out}: no FP32 graph(s) {missing} to convert; export them first with `--formats onnx`")
    preprocessing = job.parity_preprocessing()
    written = []
    for name, spec in tqdm(GRAPHS.items(), desc="FP16 graphs", unit="graph", disable=not job.progress):
        graph, old = job.manifest.graphs[name], job.manifest.fp16.get(name)
        if not job.force and half_problem(job.manifest, job.out, name) is None:
            log.info("%s: up to date", job.out / old.file)
            continue
        fp32 = check_graph_file(job.out, name, graph)
        path = job.out / spec.fp16_file
        kept = convert(fp32, path, spec)
        job.manifest.fp16[name] = HalfEntry(file=path.name, sha256=sha256_file(path), graph=name, onnx_sha256=graph.sha256,
                                            converter=CONVERTER, fp32_nodes=kept, converted_utc=utc_now())
        figures = drift(fp32, path, parity_inputs(name, preprocessing if name == "fusion" else None))
        job.manifest.parity.setdefault(name, {}).update(figures | {"fp16_measured_with": "onnxruntime CPUExecutionProvider"})
        log.info("%s: FP16 vs FP32 graph: cosine min %.6f, max |difference| %.2e", name,
                 figures["fp16_vs_fp32_cosine_min"], figures["fp16_vs_fp32_max_abs"])
        written.append(path)
    return written


def half_problem(manifest, out: Path, name: str) -> str | None:
    """Why the FP16 graph of ``name`` is missing, stale or modified, or None when it is current."""
    entry, graph = manifest.fp16.get(name), manifest.graphs.get(name)
    if entry is None or graph is None:
        return f"no FP16 {name} graph"
    if entry.onnx_sha256 != graph.sha256:
        return f"{entry.file}: stale, converted from an older {graph.file}"
    path = out / entry.file
    if not path.is_file() or sha256_file(path) != entry.sha256:
        return f"{path}: missing or modified after conversion; run `tqscore export --formats onnx-fp16 --out {out}`"
    return None


def format_engine(job: ExportJob) -> list[Path]:
    """TensorRT FP16 engines for this GPU, built strongly typed from the FP16 graphs; stale ones are rebuilt.

    A graph whose build or parity check fails does not stop the others: every engine that was
    built is recorded (the manifest is saved after each), then one FormatError names the failures.
    """
    from tqscore.export.trt import detect_target, load_tensorrt

    missing = [g for g in GRAPHS if half_problem(job.manifest, job.out, g) is not None]
    if missing:
        raise FormatError(
            f"{job.out}: no current FP16 graph(s) {missing} to build engines from; make them first with "
            f"`tqscore export --out {job.out} --formats onnx-fp16` (and `--model BUNDLE --formats onnx` before it "
            "where the FP32 graphs are missing too)"
        )
    fusion = job.manifest.graphs["fusion"]
    if fusion.source_sha256 != job.manifest.bundle.sha256:
        raise FormatError(
            f"{job.out / fusion.file} was exported from bundle sha256 {fusion.source_sha256[:12]}, not the bundle "
            f"given ({job.manifest.bundle.sha256[:12]}); export it again with `--formats onnx,engine`"
        )
    trt, target = load_tensorrt(), detect_target()
    preprocessing = job.parity_preprocessing()
    if preprocessing is None:
        log.warning("bundle %s not found: the fusion engine's parity is measured on standard-normal inputs",
                    job.manifest.bundle.path)
    written, failed = [], []
    for name in tqdm(GRAPHS, desc="TensorRT engines", unit="engine", disable=not job.progress):
        try:
            path = _engine_for(job, name, trt, target, preprocessing)
        except ExportError as exc:
            log.error("%s", exc)
            failed.append(str(exc))
            continue
        if path is not None:
            written.append(path)
            job.save()
    if failed:
        raise FormatError("; ".join(failed))
    return written


def _engine_for(job: ExportJob, name: str, trt, target, preprocessing) -> Path | None:
    """Build (or keep) one graph's engine and record it with its parity; None when it was up to date."""
    from tqscore.export.trt import BuildPlan, build_engine, engine_filename, engine_problem, profiles_for, \
        timing_cache_filename, write_engine
    from tqscore.runtime.engines import TrtGraph

    spec, half = GRAPHS[name], job.manifest.fp16[name]
    problem = engine_problem(job.manifest, job.out, name, target)
    profiles = profiles_for(name, job.image_batches, job.clip_batches)
    entry = job.manifest.engines.get(engine_filename(spec, target))
    if not job.force and problem is None and entry is not None and entry.profiles == profiles:
        log.info("%s: up to date", job.out / entry.file)
        return None
    log.info("%s: building (%s)", name, problem or "forced or new batch sizes")
    plan = BuildPlan(graph=name, onnx_path=job.out / half.file, engine_path=job.out / engine_filename(spec, target),
                     timing_cache=job.out / timing_cache_filename(target), profiles=profiles,
                     fp32_nodes=tuple(half.fp32_nodes))
    result = build_engine(plan, trt)
    built = write_engine(plan, result, half.sha256, target, utc_now())  # recorded only once its parity is measured
    fp32 = check_graph_file(job.out, name, job.manifest.graphs[name])
    try:
        figures = engine_parity(name, TrtGraph(plan.engine_path, trt), fp32, preprocessing if name == "fusion" else None)
    except (TqscoreError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{name}: the engine built, but its parity check failed: {exc}") from exc
    job.manifest.engines[plan.engine_path.name] = built
    notes = {"engine_build_s": result.seconds, "engine_measured_on": f"{target.gpu}, TensorRT {target.tensorrt}"}
    if name == "fusion":
        notes["engine_parity_inputs"] = "bundle statistics" if preprocessing is not None else "standard normal"
    job.manifest.parity.setdefault(name, {}).update(figures | notes)
    log.info("%s: engine built in %.0f s, vs FP32 ONNX %s", name, result.seconds,
             {k: f"{v:.2e}" for k, v in figures.items()})
    return plan.engine_path


def format_int8(job: ExportJob) -> list[Path]:
    """INT8 ResNet101 (static QDQ) for CPUs, calibrated on face crops of ``job.calibrate``'s clips."""
    from tqscore.export.int8 import (
        HOLDOUT_EVERY,
        INT8_FILES,
        METHOD,
        calibration_crops,
        int8_parity,
        quantize_visual,
        quantized_problem,
    )
    from tqscore.export.manifest import QuantizedEntry

    name = "visual"
    if name not in job.manifest.graphs:
        raise FormatError(f"{job.out}: no FP32 {name} graph to quantize; export it with `--formats onnx` first")
    problem = quantized_problem(job.manifest, job.out, name)
    if problem is None and not job.force and job.calibrate is None:
        log.info("%s: up to date", job.out / INT8_FILES[name])
        return []
    if job.calibrate is None:
        raise FormatError(
            "format 'onnx-int8' needs --calibrate VIDEO_DIR: face crops from your own clips set the INT8 "
            f"activation ranges (no built-in fallback; {problem or 'pass it to re-calibrate'})"
        )
    fp32 = check_graph_file(job.out, name, job.manifest.graphs[name])
    calibration = calibration_crops(job.calibrate, progress=job.progress)
    held = np.arange(len(calibration.crops)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
    path = quantize_visual(fp32, job.out / INT8_FILES[name], calibration.crops[~held])
    job.manifest.quantized[name] = QuantizedEntry(
        file=path.name, sha256=sha256_file(path), graph=name, onnx_sha256=job.manifest.graphs[name].sha256,
        method=METHOD, quantized_utc=utc_now(),
        calibration={"source": str(Path(job.calibrate).resolve()), "clips": calibration.clips,
                     "crops": int((~held).sum()), "skipped": calibration.skipped},
    )
    figures = int8_parity(path, fp32, calibration.crops[held])
    job.manifest.parity.setdefault(name, {}).update(figures)
    log.info("%s: INT8 graph from %d crops of %d clips; held-out cosine min %.5f mean %.5f", name, int((~held).sum()),
             len(calibration.clips), figures["int8_vs_fp32_cosine_min"], figures["int8_vs_fp32_cosine_mean"])
    return [path]


def _int8_available() -> str | None:
    try:
        import onnxruntime.quantization  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (onnxruntime's quantizer needs onnx)"
    return None


def _onnx_available() -> str | None:
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (install tqscore[train])"
    return None


def _fp16_available() -> str | None:
    try:
        import onnxconverter_common  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (the FP16 graphs need onnxconverter-common)"
    return None


def _engine_available() -> str | None:
    from tqscore.export.trt import TensorRTUnavailable, detect_target

    try:
        detect_target()
    except TensorRTUnavailable as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    description: str
    build: Callable[[ExportJob], list[Path]]
    available: Callable[[], str | None]  # None when it can be built here, else why not
    requires: tuple[str, ...] = ()
    gpu: bool = False
    needs_bundle: bool = False  # made from the model bundle (`--model`), not from the folder's graphs
    default: bool = True  # in the default set (False: only when asked for by name)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("onnx", ".onnx", "FP32 ONNX graphs (opset 17) for ONNX Runtime: CPU, CUDA, TensorRT providers",
               format_onnx, _onnx_available, needs_bundle=True),
        # Not in the default set: it needs --calibrate (the user's clips), which has no default.
        Format("onnx-int8", ".int8.onnx", "INT8 ResNet101 (static QDQ, per-channel weights) for CPUs, calibrated on "
               "face crops of --calibrate VIDEO_DIR", format_int8, _int8_available, default=False),
        Format("onnx-fp16", ".fp16.onnx", "FP16 copies of the ONNX graphs, FP32 islands between explicit Casts, that "
               "the TensorRT engines are built from", format_fp16, _fp16_available),
        # No requirement on `onnx`: engines are built from the folder's graphs alone (the serving
        # image has no torch); the default set still exports the graphs first when it can.
        Format("engine", ".engine", "TensorRT FP16 engines for this GPU model, compute capability and TensorRT version, "
               "built strongly typed from the FP16 graphs", format_engine, _engine_available,
               requires=("onnx-fp16",), gpu=True),
    )
}


def select_formats(requested: str | None) -> list[Format]:
    """Formats to build, in table order, dependencies included.

    ``None`` means the default set (all formats; unavailable ones skipped with a warning). Named
    formats must exist and be buildable here, else FormatError says which and why.
    """
    if requested is None:
        chosen = []
        for f in (f for f in FORMATS.values() if f.default):
            reason = f.available()
            if reason is None:
                chosen.append(f)
            else:
                log.warning("skipping format '%s': %s", f.name, reason)
        return _with_requirements(chosen)
    names = [n.strip() for n in requested.split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise FormatError(f"unknown format(s) {unknown or requested!r}; choose from {', '.join(FORMATS)}")
    chosen = _with_requirements([FORMATS[n] for n in names])
    for f in chosen:
        reason = f.available()
        if reason is not None:
            raise FormatError(f"format '{f.name}' cannot be built on this machine: {reason}")
    return chosen


def _with_requirements(formats: list[Format]) -> list[Format]:
    names = {f.name for f in formats}
    for f in formats:
        names.update(f.requires)
    return [f for f in FORMATS.values() if f.name in names]


def format_table() -> str:
    """Markdown table of the formats: ``tqscore export --help`` ends with it, docs/export.md holds it."""
    rows = ["| format | files | needs | what |", "|---|---|---|---|"]
    for f in FORMATS.values():
        needs = ", ".join([*(["`--model`"] if f.needs_bundle else []), *f.requires,
                           *(["GPU + tensorrt"] if f.gpu else []), *([] if f.default else ["asked for by name"])]) or "-"
        rows.append(f"| `{f.name}` | `*{f.suffix}` | {needs} | {f.description} |")
    return "\n".join(rows)


def run_export(job: ExportJob, formats: list[Format]) -> list[Path]:
    """Build ``formats`` in order, saving the manifest after each so finished work is never lost."""
    job.open()
    written = []
    for f in formats:
        try:
            written += f.build(job)
        finally:  # a format that fails part-way keeps what it finished
            job.save()
    return written
