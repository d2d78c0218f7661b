"""Every TensorRT class, method, flag and enum the code uses exists in the TensorRT versions the
``gpu`` extra admits (``tensorrt>=10,<12``).

The code's use is what the stand-ins (tests/trt_standin.py) record while the engine build and
the engine runner work through them. The published API comes from tests/data/tensorrt_api.json.gz,
made by this file's ``__main__`` from two PyPI wheels:

- 10.x: ``tensorrt-stubs`` 10.13.0.35.1, the type stubs NVIDIA publishes, read per class. The
  package cannot be a dev dependency: it requires ``tensorrt==10.13.0.35`` itself (gigabytes).
  Its .pyi is not valid Python (a default argument before a plain one), so it is read line by line.
- 11.x: no stubs are published; ``tensorrt-cu13-bindings`` 11.4.0.106 (a 1.3-MB wheel of the
  pybind11 module) holds every name it registers as a NUL-terminated string, and its
  ``__init__.py`` the Python-level names. The linker merges a string into a longer one ending
  the same way ("Logger" inside "ILogger"), so a name counts as present where some string ends
  with it: weaker than per-class membership (a name is not tied to its class), and the test
  says which check it is.

    python tests/test_export_trt_api.py tensorrt_stubs-*.whl tensorrt_cu13_bindings-11*.whl
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data" / "tensorrt_api.json.gz"
REMOVED_IN_11 = {("BuilderFlag", "FP16"), ("BuilderFlag", "INT8"), ("BuilderFlag", "OBEY_PRECISION_CONSTRAINTS"),
                 ("ILayer", "set_output_type"), ("ILayer", "precision"), ("IBuilderConfig", "int8_calibrator")}


def api():
    return json.loads(gzip.decompress(DATA.read_bytes()))


@pytest.fixture(scope="module")
def used(tmp_path_factory, tiny_resnet_dir, tiny_hubert_dir):
    """(class, attribute) pairs the build and the runner read from TensorRT, for 10.x and 11.x."""
    import trt_standin
    from trt_standin import make_trt

    from tqscore.export import fp16, trt
    from tqscore.export.graphs import GRAPHS, export_graph, example_inputs, visual_module
    from tqscore.features.backbones import VisualBackbone
    from tqscore.runtime.engines import TrtGraph

    root = tmp_path_factory.mktemp("trt-api")
    fp32 = export_graph(GRAPHS["visual"], visual_module(VisualBackbone(str(tiny_resnet_dir)).model), root / "v.onnx",
                        example_inputs("visual"))
    fp16.convert(fp32, root / "v.fp16.onnx", GRAPHS["visual"])
    found = {}
    monkeypatch = pytest.MonkeyPatch()
    trt_standin.use_standin_cuda(monkeypatch)
    try:
        for version in ("10.13.0.35", "11.4.0.106"):
            trt_standin.USED.clear()
            module = make_trt(version)
            plan = trt.BuildPlan("visual", root / "v.fp16.onnx", root / f"{version}.engine", root / f"{version}.cache",
                                 trt.profiles_for("visual", (2, 4)))
            trt.write_bytes_atomic(plan.engine_path, trt.build_engine(plan, module).engine)
            runner = TrtGraph(plan.engine_path, module)
            out = runner({"pixel_values": example_inputs("visual", batch=3)["pixel_values"]})
            assert out.shape == (3, 2048) and np.all(np.isfinite(out))
            found[version] = set(trt_standin.USED)
    finally:
        monkeypatch.undo()
    return found


def test_the_code_uses_only_tensorrt_10_api(used):
    surface = api()["10.13.0.35"]
    classes, module = surface["classes"], set(surface["module"])
    missing = [(c, a) for c, a in used["10.13.0.35"]
               if not (a in module if c == "tensorrt" else a in classes.get(c, ()))]
    assert not missing, f"not in TensorRT 10.13's stubs: {missing}"
    assert len(used["10.13.0.35"]) > 30  # the build and the runner were both recorded


def test_the_code_uses_only_names_tensorrt_11_registers(used):
    strings = api()["11.4.0.106"]["strings"]
    present = set(strings)
    suffixes = {s[i:] for s in strings for i in range(len(s))}  # tail-merged literals (module docstring)
    names = {a for _, a in used["11.4.0.106"]} | {c for c, _ in used["11.4.0.106"] if c != "tensorrt"}
    missing = sorted(n for n in names if n not in present and n not in suffixes)
    assert not missing, f"not registered by TensorRT 11.4's bindings: {missing}"


def test_weak_typing_is_gone_from_11_and_from_the_code(used):
    """The API 11.x removed is absent from its bindings and never read by the code, in either version."""
    strings = api()["11.4.0.106"]["strings"]
    assert not [n for n in ("OBEY_PRECISION_CONSTRAINTS", "set_output_type", "int8_calibrator") if n in strings]
    assert not {a for _, a in REMOVED_IN_11} & set(strings)  # FP16 / INT8 / precision: no string even ends so
    for version in used:
        assert not REMOVED_IN_11 & used[version]
        assert ("NetworkDefinitionCreationFlag", "STRONGLY_TYPED") in used[version]
    source = (Path(__file__).parents[1] / "tqscore" / "export" / "trt.py").read_text()
    assert not re.search(r"BuilderFlag\.(FP16|INT8|OBEY|PREFER)|set_output_type|\.precision\s*=", source)


def _stub_classes(pyi: str) -> dict[str, list[str]]:
    classes, current = {}, None
    for line in pyi.splitlines():
        if m := re.match(r"class (\w+)", line):
            current = classes.setdefault(m.group(1), set())
        elif re.match(r"\S", line):
            current = None
        elif current is not None and (m := re.match(r"    (?:def (\w+)\(|(\w+)\s*:)", line)):
            current.add(m.group(1) or m.group(2))
    return {k: sorted(v) for k, v in classes.items()}


def regenerate(stubs_wheel: str, bindings_wheel: str) -> None:
    with zipfile.ZipFile(stubs_wheel) as z:
        classes = _stub_classes(z.read("tensorrt_bindings/tensorrt.pyi").decode())
        init = z.read("tensorrt/__init__.pyi").decode()
    module = set(re.findall(r"^from tensorrt_bindings(?:\.tensorrt)? import (\w+)", init, re.M))
    module |= set(re.findall(r"^(\w+)\s*[:=]", init, re.M)) | set(re.findall(r"^def (\w+)", init, re.M))
    with zipfile.ZipFile(bindings_wheel) as z:
        binary = z.read("tensorrt_bindings/tensorrt.so")
        python = z.read("tensorrt_bindings/__init__.py").decode()
    strings = {s.decode() for s in re.findall(rb"([A-Za-z_][A-Za-z0-9_]{1,80})\0", binary)}
    strings |= set(re.findall(r"^(\w+)\s*=", python, re.M)) | set(re.findall(r"^def (\w+)", python, re.M))
    data = {"10.13.0.35": {"source": Path(stubs_wheel).name, "classes": classes, "module": sorted(module)},
            "11.4.0.106": {"source": Path(bindings_wheel).name, "strings": sorted(strings)}}
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0))
    print(f"{DATA}: {DATA.stat().st_size} bytes, {len(classes)} classes (10.x), {len(strings)} strings (11.x)")


if __name__ == "__main__":
    regenerate(*sys.argv[1:3])
