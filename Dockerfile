# tqscore runtime image for the nightly batch job: `tqscore batch /videos --out /results/x.parquet`.
#
# CUDA 12 + cuDNN 9 runtime, Python 3.11, tqscore[gpu]: TensorRT (the FP16 engines), onnxruntime-gpu
# (the portable path: ONNX graphs on the CUDA provider) and PyNvVideoCodec (NVDEC decoding), a
# non-root user, ENTRYPOINT tqscore. Every GPU library is a PyPI wheel: no source build.
#   - TensorRT 10.13: the engines are built strongly typed from FP16 graphs, one code path for
#     10.x and 11.x (tqscore/export/trt.py; tests/test_export_trt_api.py checks the names it uses
#     against TensorRT 10.13's published stubs and 11.4's bindings). The image stays on 10.x
#     because everything in it shares CUDA 12: PyPI's `tensorrt` 11.4 requires tensorrt_cu13
#     (CUDA 13), and onnxruntime-gpu's CUDA 12 build links TensorRT 10 for its TensorRT provider.
#     A CUDA 13 node can take TensorRT 11 (tqscore[gpu] admits tensorrt>=10,<12) with a CUDA 13
#     base image and onnxruntime-gpu build.
#   - onnxruntime-gpu 1.22: CUDA 12 + cuDNN 9 build. tqscore keeps only providers that run a
#     session (runtime/engines.py, gpu_providers).
#   - PyNvVideoCodec: NVIDIA's NVDEC binding (a self-contained wheel; at run time it needs the
#     driver's libnvcuvid, mounted by the NVIDIA container toolkit with the `video` capability).
#     It replaces decord's CUDA build, a source build of a project unmaintained since 2022
#     (docs/media.md, "GPU decoding").
# torch / transformers are NOT installed: the serving path runs engines only (tested in
# tests/test_runtime_engines.py::test_serving_path_never_imports_torch_or_transformers).
#
# Not built on the project's machines (no Docker engine there): kept correct by reading.
# Build:  docker build -t tqscore:0.1.0 .
# Run:    docker run --gpus all -v /data/videos:/videos:ro -v /data/engines:/engines:ro \
#           -v /data/results:/results tqscore:0.1.0 batch /videos --out /results/scores.parquet
# Bake engines in instead of mounting them: a two-line Dockerfile
#   FROM tqscore:0.1.0
#   COPY --chown=tqscore engines/ /engines/
# Rebuild the FP16 graphs and TensorRT engines for this node's GPU from the ONNX graphs already in
# the folder (no bundle, torch or transformers needed; the manifest keeps its provenance):
#   docker run --gpus all -v /data/engines:/engines tqscore:0.1.0 export --formats engine --out /engines

ARG CUDA_TAG=12.6.3-cudnn
ARG UBUNTU=ubuntu22.04

FROM nvidia/cuda:${CUDA_TAG}-runtime-${UBUNTU} AS runtime
# Pinned here, not in pyproject (which admits tensorrt>=10,<12 and onnxruntime-gpu>=1.20),
# because they follow the base image's CUDA.
ARG ORT_VERSION=1.22.0
ARG TRT_VERSION=10.13.0.35
ARG NVC_VERSION=2.2.4
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video \
    PATH=/opt/venv/bin:$PATH \
    TQSCORE_ENGINES=/engines
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update && apt-get install -y --no-install-recommends \
       python3.11 python3.11-venv libgl1 libglib2.0-0 \
    && apt-get purge -y software-properties-common && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tqscore ./tqscore
# Checks that need no GPU (a build has no driver: tensorrt and PyNvVideoCodec load libcuda when
# used, so they are only located here): every command module imports and registers its
# arguments (what `tqscore --help` does), the CUDA provider is packaged, torch is absent.
RUN pip install "onnxruntime-gpu==${ORT_VERSION}" "tensorrt==${TRT_VERSION}" "PyNvVideoCodec==${NVC_VERSION}" ".[gpu]" \
    && python -c "import importlib, importlib.util as u, onnxruntime, tqscore.cli as cli; \
[importlib.import_module(m) for m in cli.COMMAND_MODULES]; cli.build_parser(); \
assert all(u.find_spec(m) for m in ('PyNvVideoCodec', 'tensorrt', 'onnxconverter_common')); \
assert 'CUDAExecutionProvider' in onnxruntime.get_available_providers()" \
    && ! python -c "import torch" 2>/dev/null \
    && ! python -c "import transformers" 2>/dev/null \
    && rm -rf /src
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tqscore \
    && mkdir -p /engines /videos /results && chown tqscore /engines /results
USER tqscore
WORKDIR /home/tqscore
ENTRYPOINT ["tqscore"]
CMD ["batch", "--help"]
