"""TensorRT engines without a GPU: naming, staleness, profiles, the strongly typed build and its use.

Stand-in ``tensorrt`` modules of 10.x and 11.x (tests/trt_standin.py) record what the build
asks of TensorRT; the 11.x one has none of the weak-typing API 11.x removed. A stand-in engine
runner serves through ONNX Runtime, so the runtime's choice between engines and ONNX graphs is
tested end to end. What this cannot show (that TensorRT parses the graphs, kernel choice, FP16
accuracy, speed) needs a GPU: benchmarks/gpu_check.py.
"""

from __future__ import annotations

import logging
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from tqscore.testing.export_support import make_bundle

from trt_standin import Builder, OnnxParser, make_trt

from tqscore.export import trt as trt_mod
from tqscore.export.graphs import GRAPHS
from tqscore.export.manifest import Target, read_manifest, write_manifest

H100 = Target(gpu="NVIDIA H100 80GB HBM3", compute_capability="9.0", tensorrt="10.9.0.34")
A100 = Target(gpu="NVIDIA A100-SXM4-40GB", compute_capability="8.0", tensorrt="10.9.0.34")
H100_NEW_TRT = H100.model_copy(update={"tensorrt": "10.13.0.35"})


# --- stand-ins for tensorrt 10.x / 11.x (tests/trt_standin.py) -----------------------------------
FakeTRT = make_trt(H100.tensorrt)
FakeTRT11 = make_trt("11.4.0.106")


class OrtRunner:
    """Stands in for runtime.engines.TrtGraph: serves the engine's ONNX graph with ONNX Runtime."""

    made = []

    def __init__(self, path, trt):
        import onnxruntime as ort

        graph = next(g for g in GRAPHS.values() if path.name.startswith(g.file.split(".")[0] + "."))
        self.session = ort.InferenceSession(str(path.parent / graph.file), providers=["CPUExecutionProvider"])
        OrtRunner.made.append(path.name)

    def max_batch(self):
        return 8

    def __call__(self, feeds):
        return self.session.run(None, feeds)[0]


# --- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory, tiny_resnet_dir, tiny_hubert_dir):
    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob

    root = tmp_path_factory.mktemp("trt")
    job = ExportJob(make_bundle(root / "bundle"), root / "engines", str(tiny_resnet_dir), str(tiny_hubert_dir))
    run_export(job, select_formats("onnx,onnx-fp16"))
    return job


@pytest.fixture
def gpu_here(monkeypatch):
    """Pretend this machine has TensorRT and a GPU; ``gpu_here.target`` is what it reports."""
    state = SimpleNamespace(target=H100)
    monkeypatch.setattr(trt_mod, "load_tensorrt", lambda: FakeTRT)
    monkeypatch.setattr(trt_mod, "detect_target", lambda: state.target)
    monkeypatch.setattr("tqscore.runtime.engines.detect_target", lambda: state.target)
    monkeypatch.setattr("tqscore.runtime.engines.TrtGraph", OrtRunner)
    monkeypatch.setattr("tqscore.export.formats._engine_available", lambda: None)
    OrtRunner.made = []
    return state


@pytest.fixture
def built(onnx_folder, gpu_here, tmp_path):
    """A copy of the ONNX folder with H100 engines built through the engine format."""
    from tqscore.export.formats import run_export, select_formats
    from tqscore.export.job import ExportJob

    job = ExportJob(onnx_folder.bundle_path, shutil.copytree(onnx_folder.out, tmp_path / "engines"),
                    onnx_folder.resnet, onnx_folder.hubert)
    written = run_export(job, select_formats("engine"))
    assert sorted(p.name for p in written) == sorted(trt_mod.engine_filename(g, H100) for g in GRAPHS.values())
    return job


# --- naming ---------------------------------------------------------------------------------------
def test_engine_names_carry_gpu_compute_capability_and_tensorrt_version():
    assert trt_mod.engine_filename(GRAPHS["audio"], H100) == "hubert.nvidia-h100-80gb-hbm3.sm90.trt10.9.0.34.fp16.engine"
    assert trt_mod.engine_filename(GRAPHS["visual"], A100) == "resnet101.nvidia-a100-sxm4-40gb.sm80.trt10.9.0.34.fp16.engine"
    assert trt_mod.timing_cache_filename(H100) == "timing.nvidia-h100-80gb-hbm3.sm90.trt10.9.0.34.cache"
    names = {trt_mod.engine_filename(GRAPHS["fusion"], t) for t in (H100, A100, H100_NEW_TRT)}
    assert len(names) == 3  # each fact alone changes the name


def test_tensorrt_10_and_11_load_and_others_are_refused_with_the_reason(monkeypatch):
    for version in ("10.9.0.34", "11.4.0.106"):
        monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__=version))
        assert trt_mod.load_tensorrt().__version__ == version
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="12.0.0.1"))
    with pytest.raises(trt_mod.TensorRTUnavailable, match=r"TensorRT 12\.0\.0\.1 is installed.*install tensorrt>=10,<12"):
        trt_mod.load_tensorrt()


def test_a_gpu_the_driver_lists_but_cannot_use_is_not_a_target(monkeypatch):
    """Detection proves the device works (context + allocation), whatever onnxruntime lists."""
    import onnxruntime

    from tqscore.export import cuda

    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.9.0.34"))
    monkeypatch.setattr(cuda, "device_facts", lambda index=0: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])

    def broken(index=0):
        raise cuda.CudaUnavailable("cuMemAlloc failed: CUDA error 2 (out of memory)")

    monkeypatch.setattr(cuda, "check_device", broken)
    with pytest.raises(trt_mod.TensorRTUnavailable, match="NVIDIA H100 80GB HBM3 is not usable: cuMemAlloc failed"):
        trt_mod.detect_target()
    monkeypatch.setattr(cuda, "check_device", lambda index=0: None)
    assert trt_mod.detect_target() == H100


def test_missing_gpu_is_reported_not_guessed(monkeypatch):
    from tqscore.export.cuda import CudaUnavailable, device_facts

    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="10.9.0.34"))
    try:
        device_facts()
    except CudaUnavailable as exc:
        with pytest.raises(trt_mod.TensorRTUnavailable, match="no usable NVIDIA GPU"):
            trt_mod.detect_target()
        assert "CUDA" in str(exc)
    else:
        pytest.skip("a CUDA device is present")


# --- profiles -------------------------------------------------------------------------------------
def test_profiles_cover_the_runtime_batch_sizes():
    visual = trt_mod.profiles_for("visual", image_batches=(150, 64, 64))
    assert [(p["pixel_values"].min[0], p["pixel_values"].opt[0], p["pixel_values"].max[0]) for p in visual] == [
        (1, 64, 64), (65, 150, 150)
    ]
    assert visual[0]["pixel_values"].opt == [64, 3, 224, 224]
    audio = trt_mod.profiles_for("audio", clip_batches=(1, 8))
    assert [p["input_values"].min for p in audio] == [[1, 400], [2, 400]]
    assert audio[1]["input_values"].opt == [8, 96_000] and audio[1]["input_values"].max == [8, 480_080]
    fusion = trt_mod.profiles_for("fusion", clip_batches=(4,))
    assert fusion == [{"features": trt_mod.ShapeRange(min=[1, 150, 4237], opt=[4, 150, 4237], max=[4, 150, 4237]),
                       "frame_mask": trt_mod.ShapeRange(min=[1, 150], opt=[4, 150], max=[4, 150])}]
    with pytest.raises(ValueError, match="positive"):
        trt_mod.batch_ranges([0, 8])


# --- the build ------------------------------------------------------------------------------------
@pytest.mark.parametrize("trt", [FakeTRT, FakeTRT11], ids=["tensorrt10", "tensorrt11"])
def test_build_is_strongly_typed_from_the_fp16_graph(onnx_folder, tmp_path, trt):
    half = onnx_folder.out / GRAPHS["audio"].fp16_file
    plan = trt_mod.BuildPlan("audio", half, tmp_path / "x.engine", tmp_path / "t.cache",
                             trt_mod.profiles_for("audio"), workspace_gb=2)
    (tmp_path / "t.cache").write_bytes(b"old")
    result = trt_mod.build_engine(plan, trt)
    network, config = Builder.last.network, Builder.last.config
    assert network._flags == 1 << 1 and network._onnx == str(half)  # STRONGLY_TYPED, the FP16 graph
    assert config._flags == set() and config._cleared == {"TF32"}  # no precision flag; FP32 stays FP32
    assert config._pool["WORKSPACE"] == 2 << 30
    assert config._profiles == [{"input_values": ([1, 400], [1, 96_000], [1, 480_080])},
                                {"input_values": ([2, 400], [8, 96_000], [8, 480_080])}]
    assert (tmp_path / "t.cache").read_bytes() == b"old+timings"  # read, extended, written back
    assert b"hubert.fp16.onnx" in result.engine


def test_build_fails_loudly(onnx_folder, tmp_path, monkeypatch):
    plan = trt_mod.BuildPlan("audio", onnx_folder.out / "hubert.fp16.onnx", tmp_path / "x.engine", tmp_path / "t.cache",
                             trt_mod.profiles_for("audio"))
    monkeypatch.setattr(OnnxParser, "parse_from_file", lambda self, path: self._errors.append("Unsupported op Foo") or False)
    with pytest.raises(trt_mod.ExportError, match="hubert.fp16.onnx: TensorRT could not parse the graph: Unsupported op Foo"):
        trt_mod.build_engine(plan, FakeTRT)
    assert not (tmp_path / "x.engine").exists()


def test_export_command_reports_engines_it_cannot_build(onnx_folder, gpu_here, tmp_path, monkeypatch, capsys):
    """TensorRT giving no engine is the machine's problem, not a bug: one line naming the graphs, exit 2."""
    from tqscore.cli import main

    monkeypatch.setattr(Builder, "build_serialized_network", lambda self, network, config: None)
    out = shutil.copytree(onnx_folder.out, tmp_path / "engines")
    code = main(["export", "--model", str(onnx_folder.bundle_path), "--out", str(out), "--formats", "engine",
                 "--resnet", onnx_folder.resnet, "--hubert", onnx_folder.hubert, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[-1] == "tqscore export: error: " + "; ".join(
        f"{g}: TensorRT engine build failed (see the TensorRT log above)" for g in GRAPHS)
    assert "Traceback" not in err
    assert read_manifest(out).engines == {}  # nothing half-built is recorded


def test_one_failed_build_keeps_the_other_engines(onnx_folder, gpu_here, tmp_path, monkeypatch):
    """A build error mid-format: the graphs after it are still built, and the manifest records them."""
    from tqscore.export.formats import FormatError, run_export, select_formats
    from tqscore.export.job import ExportJob

    real = Builder.build_serialized_network

    def fail_visual(self, network, config):
        return None if network._onnx.endswith("resnet101.fp16.onnx") else real(self, network, config)

    monkeypatch.setattr(Builder, "build_serialized_network", fail_visual)
    out = shutil.copytree(onnx_folder.out, tmp_path / "engines")
    with pytest.raises(FormatError, match="^visual: TensorRT engine build failed"):
        run_export(ExportJob(None, out), select_formats("engine"))
    assert sorted(e.graph for e in read_manifest(out).engines.values()) == ["audio", "fusion"]


# --- format, manifest, staleness, serving ---------------------------------------------------------
def test_engine_format_records_engines_in_the_manifest(built):
    manifest = read_manifest(built.out)
    assert len(manifest.engines) == 3
    for entry in manifest.engines.values():
        assert entry.target == H100 and entry.precision == "fp16"
        assert bool(entry.fp32_layers) == (entry.graph != "visual")  # ResNet101 runs wholly in FP16
        assert entry.onnx_sha256 == manifest.fp16[entry.graph].sha256 and entry.fp32_layers == manifest.fp16[entry.graph].fp32_nodes
        assert trt_mod.engine_problem(manifest, built.out, entry.graph, H100) is None
        assert manifest.parity[entry.graph]["engine_vs_onnx_max_abs"] == 0.0  # stand-in runs the ONNX graph
        assert "NVIDIA H100" in manifest.parity[entry.graph]["engine_measured_on"]
    assert (built.out / trt_mod.timing_cache_filename(H100)).is_file()


def test_rerun_keeps_current_engines_and_builds_for_a_new_tensorrt(built, gpu_here):
    from tqscore.export.formats import run_export, select_formats

    assert run_export(built, select_formats("engine")) == []  # everything up to date
    gpu_here.target = H100_NEW_TRT
    rebuilt = run_export(built, select_formats("engine"))
    assert sorted(p.name for p in rebuilt) == sorted(trt_mod.engine_filename(g, H100_NEW_TRT) for g in GRAPHS.values())
    assert len(read_manifest(built.out).engines) == 6  # the old set stays, for machines still on the old version


def test_staleness_reasons(built):
    manifest = read_manifest(built.out)
    assert "no audio engine for NVIDIA A100-SXM4-40GB (sm 8.0, TensorRT 10.9.0.34); engines in the folder are for other" \
        in trt_mod.engine_problem(manifest, built.out, "audio", A100)
    assert "no visual engine" in trt_mod.engine_problem(manifest, built.out, "visual", H100_NEW_TRT)
    stale = manifest.model_copy(deep=True)
    stale.graphs["fusion"].sha256 = "f" * 64  # the fusion graph was re-exported after the build
    assert "stale, its FP16 graph fusion.fp16.onnx was converted from an older fusion.onnx" in \
        trt_mod.engine_problem(stale, built.out, "fusion", H100)
    stale = manifest.model_copy(deep=True)
    stale.fp16["fusion"].sha256 = "e" * 64  # the FP16 graph was converted again after the build
    assert "stale, built from an older fusion.fp16.onnx" in trt_mod.engine_problem(stale, built.out, "fusion", H100)
    engine = built.out / trt_mod.engine_filename(GRAPHS["visual"], H100)
    engine.write_bytes(engine.read_bytes() + b"x")
    assert "contents differ from the manifest" in trt_mod.engine_problem(manifest, built.out, "visual", H100)
    engine.unlink()
    assert "listed in the manifest but missing" in trt_mod.engine_problem(manifest, built.out, "visual", H100)


def test_runtime_uses_engines_only_when_they_fit(built, gpu_here, caplog):
    from tqscore.runtime.engines import EngineError, EngineSet

    OrtRunner.made = []  # the build's parity check made some
    engines = EngineSet.load(built.out, device="auto")
    assert engines.backend == "tensorrt" and "sm90" in engines.engine_id
    assert sorted(OrtRunner.made) == sorted(trt_mod.engine_filename(g, H100) for g in GRAPHS.values())
    features = np.random.default_rng(0).standard_normal((10, 150, 4237)).astype(np.float32)
    assert engines.fusion(features, np.ones((10, 150))).shape == (10, 5)  # chunked by the profile maximum

    OrtRunner.made = []
    gpu_here.target = A100  # the folder was copied to another kind of GPU
    with caplog.at_level(logging.WARNING):
        fallback = EngineSet.load(built.out, device="auto")
    assert fallback.backend == "onnxruntime" and OrtRunner.made == []
    assert "TensorRT engines not usable on this machine: no visual engine for NVIDIA A100" in caplog.text
    assert "tqscore export --formats engine --out" in caplog.text
    with pytest.raises(EngineError, match="no fusion engine for NVIDIA A100"):
        EngineSet.load(built.out, device="tensorrt")

    gpu_here.target = H100
    manifest = read_manifest(built.out)
    manifest.graphs["audio"].sha256 = "0" * 64  # as if hubert.onnx were re-exported without the engines
    write_manifest(built.out, manifest)
    with pytest.raises(Exception, match="hubert.onnx: contents differ from the manifest"):
        EngineSet.load(built.out, device="tensorrt")  # the ONNX check comes first and names the file


# --- engines from the ONNX graphs alone (the serving image: no bundle, torch or transformers) ----
def test_engine_format_no_longer_pulls_in_onnx(gpu_here):
    from tqscore.export.formats import select_formats

    assert [f.name for f in select_formats("engine")] == ["onnx-fp16", "engine"]
    assert [f.name for f in select_formats("onnx,engine")] == ["onnx", "onnx-fp16", "engine"]


def test_engines_from_the_graphs_alone_import_no_torch(onnx_folder, tmp_path):
    """`tqscore export --formats engine --out DIR`, no --model, in a fresh interpreter that cannot import
    torch or transformers: engines built from the folder's graphs, provenance kept from the manifest."""
    import subprocess
    import textwrap
    from pathlib import Path

    out = shutil.copytree(onnx_folder.out, tmp_path / "engines")
    before = read_manifest(out)
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Absent(importlib.abc.MetaPathFinder):  # as in the serving image: not installed at all
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers"):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, Absent())
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_export_trt import FakeTRT, OrtRunner, H100
        import tqscore.export.trt as trt_mod, tqscore.export.formats as formats, tqscore.runtime.engines as engines
        trt_mod.load_tensorrt = lambda: FakeTRT
        trt_mod.detect_target = lambda: H100
        formats._engine_available = lambda: None
        engines.TrtGraph = OrtRunner
        from tqscore.cli import main
        code = main(["export", "--formats", "engine", "--out", {str(out)!r}, "--no-progress"])
        print("CODE", code, "LOADED", sorted(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CODE 0 LOADED []" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    after = read_manifest(out)
    assert sorted(after.engines) == sorted(trt_mod.engine_filename(g, H100) for g in GRAPHS.values())
    assert (after.model_id, after.bundle, after.backbones, after.graphs) == \
        (before.model_id, before.bundle, before.backbones, before.graphs)
    assert after.versions["torch"] == before.versions["torch"]  # the graphs' exporter stays on record
    assert after.parity["fusion"]["engine_parity_inputs"] == "bundle statistics"  # read with numpy only


def test_engines_without_graphs_or_bundle_say_what_to_run(tmp_path, gpu_here, capsys):
    from tqscore.cli import main

    assert main(["export", "--out", str(tmp_path / "empty"), "--no-progress"]) == 2
    assert "not an engine folder (no manifest.json)" in capsys.readouterr().err
    assert main(["export", "--formats", "onnx", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "format(s) ['onnx'] are made from a model bundle: pass --model BUNDLE" in capsys.readouterr().err


def test_engines_refuse_a_fusion_graph_from_another_bundle(onnx_folder, gpu_here, tmp_path):
    from tqscore.export.formats import FormatError, run_export, select_formats
    from tqscore.export.job import ExportJob

    out = shutil.copytree(onnx_folder.out, tmp_path / "engines")
    other = make_bundle(tmp_path / "other", seed=1)
    job = ExportJob(other, out, onnx_folder.resnet, onnx_folder.hubert)
    with pytest.raises(FormatError, match=r"fusion.onnx was exported from bundle sha256 .* `--formats onnx,engine`"):
        run_export(job, select_formats("engine"))


def test_ort_tensorrt_provider_keeps_its_timing_cache_and_hubert_profile_in_the_cache(built, tmp_path, monkeypatch):
    from tqscore.runtime.engines import _provider_options, ort_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    manifest = read_manifest(built.out)
    name, options = _provider_options("TensorrtExecutionProvider", manifest, "audio")
    assert options["trt_timing_cache_path"] == options["trt_engine_cache_path"] == str(ort_cache_dir(manifest))
    assert str(tmp_path) in options["trt_timing_cache_path"]
    # HuBERT's variable length: one receptive field up to a 30-s window, tuned at the 6-s clip.
    assert (options["trt_profile_min_shapes"], options["trt_profile_opt_shapes"], options["trt_profile_max_shapes"]) == \
        ("input_values:1x400", "input_values:1x96000", "input_values:8x480080")
    fusion = _provider_options("TensorrtExecutionProvider", manifest, "fusion")[1]
    assert fusion["trt_profile_max_shapes"] == "features:8x150x4237,frame_mask:8x150"
    assert _provider_options("CPUExecutionProvider", manifest, "audio") == "CPUExecutionProvider"


def test_auto_decoding_stays_on_the_cpu_for_scoring_until_nvdec_is_measured():
    from tqscore.runtime.config import NVDEC_FOR_SCORING, scoring_decode_device

    assert NVDEC_FOR_SCORING is False  # benchmarks/gpu_check.py has not measured NVDEC's score difference yet
    assert scoring_decode_device("auto", scoring=True) == "cpu"  # training features come from CPU decoding
    assert scoring_decode_device("auto", scoring=False) == "auto"  # signals only: NVDEC where it exists
    assert scoring_decode_device("cuda", scoring=True) == "cuda"  # asked for explicitly


# --- ONNX Runtime's GPU providers ------------------------------------------------------------------
def test_a_listed_cuda_provider_that_cannot_run_is_not_used(onnx_folder, monkeypatch, caplog):
    """onnxruntime lists CUDA wherever it was compiled in; a session then silently runs on the CPU."""
    import onnxruntime

    from tqscore.runtime import engines

    engines._provider_runs.cache_clear()
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.WARNING), pytest.raises(engines.EngineError, match="no GPU provider of onnxruntime runs"):
        engines.EngineSet.load(onnx_folder.out, device="cuda")
    assert "lists CUDAExecutionProvider but" in caplog.text
    assert engines.EngineSet.load(onnx_folder.out, device="auto").providers == ["CPUExecutionProvider"]
    engines._provider_runs.cache_clear()


def test_auto_never_starts_onnxruntimes_tensorrt_build(onnx_folder, monkeypatch, caplog):
    import onnxruntime

    from tqscore.runtime import engines

    asked = []
    real = engines._OrtGraph.__init__

    def record(self, path, providers, threads):
        asked.append([p if isinstance(p, str) else p[0] for p in providers])
        real(self, path, ["CPUExecutionProvider"], threads)

    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(engines, "_provider_runs", lambda provider: True)
    monkeypatch.setattr(engines._OrtGraph, "__init__", record)
    with caplog.at_level(logging.WARNING):
        engines.EngineSet.load(onnx_folder.out, device="auto")
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]] * 3
    assert "TensorRT provider is not used with device 'auto'" in caplog.text
    asked.clear()
    engines.EngineSet.load(onnx_folder.out, device="cuda")
    assert asked[0] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_engine_runner_reuses_pinned_buffers_and_checks_tensorrt_answers(onnx_folder, tmp_path, monkeypatch):
    """TrtGraph over stand-in engine and driver: one pinned + one device buffer per tensor across calls,
    results of the FP16 graph, and TensorRT's False answers turned into errors."""
    import trt_standin

    from tqscore.runtime.engines import EngineError, TrtGraph

    trt_standin.use_standin_cuda(monkeypatch)
    plan = trt_mod.BuildPlan("visual", onnx_folder.out / GRAPHS["visual"].fp16_file, tmp_path / "v.engine",
                             tmp_path / "t.cache", trt_mod.profiles_for("visual", (2, 4)))
    trt_mod.write_bytes_atomic(plan.engine_path, trt_mod.build_engine(plan, FakeTRT11).engine)
    runner = TrtGraph(plan.engine_path, FakeTRT11)
    crops = np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32)
    import onnxruntime as ort

    reference = ort.InferenceSession(str(onnx_folder.out / GRAPHS["visual"].file), providers=["CPUExecutionProvider"])
    for n in (4, 3, 4):
        assert np.allclose(runner({"pixel_values": crops[:n]}), reference.run(None, {"pixel_values": crops[:n]})[0],
                           atol=2e-3)
    assert trt_standin.PinnedBuffer.allocated == trt_standin.DeviceBuffer.allocated == 2  # input + output, once
    assert [d for d, _ in trt_standin.COPIES] == ["to_device", "to_host"] * 3
    monkeypatch.setattr(trt_standin.IExecutionContext, "set_tensor_address", lambda self, name, address: False)
    with pytest.raises(EngineError, match="TensorRT refused the buffer of tensor 'pixel_values'"):
        runner({"pixel_values": crops[:2]})
    monkeypatch.setattr(trt_standin.IExecutionContext, "set_input_shape", lambda self, name, shape: False)
    with pytest.raises(EngineError, match=r"TensorRT refused input shape \(2, 3, 224, 224\)"):
        runner({"pixel_values": crops[:2]})
