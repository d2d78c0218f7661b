# tqscore runtime image for the nightly batch job: `tqscore batch /videos --out /results/x.parquet`.
#
# Two stages:
#   decord-build  builds decord with CUDA (NVDEC) from source: the PyPI wheel is CPU-only.
#   runtime       CUDA 12 + cuDNN 9 runtime, Python 3.11, tqscore[gpu] (onnxruntime-gpu + tensorrt),
#                 the CUDA decord wheel, a non-root user, ENTRYPOINT tqscore.
# torch / transformers are NOT installed: the serving path runs engines only (tested in
# tests/test_runtime_engines.py::test_serving_path_never_imports_torch_or_transformers).
# The image is for GPU nodes: the CUDA decord links the driver's libcuda / libnvcuvid.
#
# Not built on the project's machines (no Docker engine there): kept correct by reading.
# Build:  docker build -t tqscore:0.1.0 .
# Run:    docker run --gpus all -v /data/videos:/videos:ro -v /data/engines:/engines:ro \
#           -v /data/results:/results tqscore:0.1.0 batch /videos --out /results/scores.parquet
# Bake engines in instead of mounting them: a two-line Dockerfile
#   FROM tqscore:0.1.0
#   COPY --chown=tqscore engines/ /engines/

ARG CUDA_TAG=12.6.3-cudnn
ARG UBUNTU=ubuntu22.04

# ---------------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_TAG}-devel-${UBUNTU} AS decord-build
ARG DECORD_REF=v0.6.0
ARG NVDEC_DRIVER=550
# decord's default (Maxwell/Pascal/Volta) predates CUDA 12's deprecations; name today's GPUs.
ARG CUDA_ARCH="sm_70;sm_75;sm_80;sm_86;sm_89;sm_90"
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update && apt-get install -y --no-install-recommends \
       build-essential cmake git pkg-config ca-certificates \
       python3.11 python3.11-dev python3.11-venv \
       libavcodec-dev libavformat-dev libavfilter-dev libavutil-dev libswscale-dev libswresample-dev \
       libnvidia-decode-${NVDEC_DRIVER} \
    && rm -rf /var/lib/apt/lists/*
# libnvidia-decode gives libnvcuvid.so.1 to link against; at run time the NVIDIA container
# toolkit mounts the host driver's copy (needs the `video` driver capability, set below).
RUN ln -sf /usr/lib/x86_64-linux-gnu/libnvcuvid.so.1 /usr/local/cuda/lib64/libnvcuvid.so
RUN git clone --recursive --depth 1 --branch ${DECORD_REF} https://github.com/dmlc/decord /src/decord
WORKDIR /src/decord/build
RUN cmake .. -DUSE_CUDA=/usr/local/cuda -DCUDA_ARCH="${CUDA_ARCH}" -DCMAKE_BUILD_TYPE=Release && make -j"$(nproc)"
RUN python3.11 -m venv /opt/build && /opt/build/bin/pip install --no-cache-dir wheel setuptools \
    && cd /src/decord/python && /opt/build/bin/python setup.py bdist_wheel -d /wheels

# ---------------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_TAG}-runtime-${UBUNTU} AS runtime
# onnxruntime-gpu 1.20-1.22 and TensorRT 10.x wheels are built for CUDA 12 + cuDNN 9, which is
# what the base image carries. Pinned here, not in pyproject, because they follow the base image.
ARG ORT_VERSION=1.22.0
ARG TRT_VERSION=10.9.0.34
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
       python3.11 python3.11-venv \
       libavcodec58 libavformat58 libavfilter7 libavutil56 libswscale5 libswresample3 \
       libgl1 libglib2.0-0 \
    && apt-get purge -y software-properties-common && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
COPY --from=decord-build /wheels/ /tmp/wheels/
# The CUDA decord wheel first: it is version 0.6.0, so `pip install .` keeps it instead of
# pulling the CPU-only PyPI wheel.
RUN pip install /tmp/wheels/decord-*.whl && rm -rf /tmp/wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tqscore ./tqscore
# Checks that need no GPU (a build has no driver: the CUDA decord and tensorrt load libcuda when
# imported, so they are only located here): the CUDA provider is packaged, torch is absent.
RUN pip install "onnxruntime-gpu==${ORT_VERSION}" "tensorrt==${TRT_VERSION}" ".[gpu]" \
    && python -c "import importlib.util as u, onnxruntime, tqscore.cli; \
assert all(u.find_spec(m) for m in ('decord', 'tensorrt')); \
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
