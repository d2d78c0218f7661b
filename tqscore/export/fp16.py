"""FP16 ONNX graphs: the precision of every tensor written into the graph itself.

TensorRT builds its engines strongly typed (``tqscore.export.trt``): each layer runs in the type
its ONNX tensors have, so an FP16 engine is built from an FP16 graph, and the few layers that
must stay FP32 are FP32 in the graph, between explicit Cast nodes. Inputs and outputs stay
float32 (``keep_io_types``): the runtime's buffers, the manifest's tensor specs and every parity
check are the same for the FP32 and the FP16 graph.

Converter: onnxconverter-common's float16 pass (``convert_float_to_float16``), chosen over
NVIDIA ModelOpt's AutoCast (``nvidia-modelopt[onnx]``) because

- it is a 90-kB pure-Python wheel on numpy, onnx and protobuf, which tqscore already needs, so
  the FP16 graphs are made on any machine, the serving image included; ModelOpt's ``onnx``
  extra pulls torch, ``cupy-cuda12x``, ``onnxruntime-gpu~=1.24`` (which cannot sit beside the
  ``cpu`` extra's onnxruntime), ``onnx~=1.21`` (this project has 1.22), polygraphy and lief;
- the FP32 islands here are a short, reviewed list of node-name patterns per graph
  (``GraphSpec.fp32_layers``), which the pass takes as its ``node_block_list``; AutoCast picks
  its FP32 nodes from value ranges measured by running the graph on data, which would make the
  served graph depend on the data at hand;
- ModelOpt's AutoCast itself depends on this pass (``onnxconverter-common~=1.16``).

Three corrections around the pass, each for a graph it otherwise breaks here:

- the graph's own Cast nodes are kept as they are, named in ``node_block_list``: the pass
  relabels a Cast-to-float's output as float16 but leaves its ``to`` attribute, which ONNX
  Runtime rejects on load (HuBERT's positional-convolution Cast, the fusion model's mask
  Casts); kept, the pass puts a Cast to FP16 after them instead. They are named, not given as
  ``op_block_list=["Cast"]``: the pass then also visits the Casts it inserts and never ends;
- Identity nodes that copy a weight become weights of their own (``inline_weight_identities``);
- outputs stay float32 (``float32_outputs``) where the pass ends the graph with an FP16 Cast.

Constants smaller than 1e-7 in magnitude are raised to 1e-7 and larger than 1e4 lowered to 1e4
by the pass (its defaults): weights that small are below FP16's precision at any activation
scale here, and the largest constant, the attention mask's -1e4 fill, sits at that limit.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np

from tqscore.export.graphs import GraphSpec
from tqscore.io import atomic_write

log = logging.getLogger(__name__)

CONVERTER = "onnxconverter-common convert_float_to_float16, keep_io_types, FP32 nodes by name"
KEPT_OPS = ("Cast",)  # kept by name: see the module docstring


def fp32_nodes(model, patterns: tuple[str, ...]) -> list[str]:
    """Names of the graph's nodes that ``patterns`` (regular expressions) keep in FP32."""
    regexes = [re.compile(p) for p in patterns]
    return [n.name for n in model.graph.node if any(r.search(n.name) for r in regexes)]


def inline_weight_identities(model) -> int:
    """Replace Identity nodes that copy an initializer by an initializer of their output's name.

    The exporter writes shared or reused weights (the LayerNorm parameters of the fusion model)
    as Identity nodes on one initializer; the pass converts the Identity to FP16 while the FP32
    LayerNorm it feeds keeps FP32 weights, a type clash ONNX Runtime and TensorRT reject.
    """
    from onnx import numpy_helper

    weights = {w.name: w for w in model.graph.initializer}
    copies = [n for n in model.graph.node if n.op_type == "Identity" and n.input[0] in weights]
    for node in copies:
        model.graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(weights[node.input[0]]), node.output[0]))
        model.graph.node.remove(node)
    return len(copies)


def float32_outputs(model) -> list[str]:
    """Make every FP16 graph output FP32 again; returns the outputs changed.

    With ``keep_io_types`` the pass still ends a graph whose last node it kept in FP32 (HuBERT's
    final LayerNorm) with a Cast to FP16: that Cast is made to cast to FP32, and any other FP16
    output gets a Cast to FP32 of its own.
    """
    from onnx import TensorProto, helper

    changed = []
    for out in model.graph.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        producer = next(n for n in model.graph.node if out.name in n.output)
        if producer.op_type == "Cast":
            next(a for a in producer.attribute if a.name == "to").i = TensorProto.FLOAT
        else:
            half = out.name + "_fp16"
            producer.output[list(producer.output).index(out.name)] = half
            model.graph.node.append(helper.make_node("Cast", [half], [out.name], name=half + "_to_fp32", to=TensorProto.FLOAT))
        stale = [v for v in model.graph.value_info if v.name == out.name]
        for v in stale:
            model.graph.value_info.remove(v)
        out.type.tensor_type.elem_type = TensorProto.FLOAT
        changed.append(out.name)
    return changed


def convert(fp32_path: Path, out_path: Path, spec: GraphSpec) -> list[str]:
    """Write the FP16 graph of ``fp32_path`` to ``out_path``; returns the nodes kept in FP32."""
    import onnx
    from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    from tqscore.errors import ExportError

    model = onnx.load(str(fp32_path))
    inline_weight_identities(model)
    kept = fp32_nodes(model, spec.fp32_layers)
    if spec.fp32_layers and not kept:
        raise ExportError(f"{fp32_path}: no node matches the FP32 patterns {spec.fp32_layers}; the graph's node names changed")
    casts = [n.name for n in model.graph.node if n.op_type in KEPT_OPS and n.name not in kept]
    with warnings.catch_warnings():
        # One warning per constant clipped to the FP16 range (module docstring): hundreds per graph.
        warnings.filterwarnings("ignore", message=r"the float32 number", category=UserWarning)
        half = convert_float_to_float16(model, keep_io_types=True, node_block_list=[*kept, *casts],
                                        op_block_list=DEFAULT_OP_BLOCK_LIST)
    float32_outputs(half)
    with atomic_write(out_path) as tmp:
        onnx.save(half, str(tmp))
    log.info("%s: FP16 graph, %d of %d nodes kept FP32", out_path, len(kept), len(model.graph.node))
    return kept


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows (flattened past the first axis)."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1.0), 1.0)


def drift(fp32_path: Path, fp16_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, float]:
    """FP16 graph vs its FP32 graph on ONNX Runtime CPU: min row cosine and max |difference|."""
    import onnxruntime as ort

    runs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, inputs)[0]
            for p in (fp32_path, fp16_path)]
    if not np.all(np.isfinite(runs[1])):
        from tqscore.errors import ExportError

        raise ExportError(f"{fp16_path}: the FP16 graph gives non-finite outputs where the FP32 graph does not "
                          "(an FP16 overflow): keep the overflowing nodes in FP32 (GraphSpec.fp32_layers)")
    return {"fp16_vs_fp32_cosine_min": float(cosine_rows(runs[1], runs[0]).min()),
            "fp16_vs_fp32_max_abs": float(np.max(np.abs(runs[1].astype(np.float64) - runs[0])))}
