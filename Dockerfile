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
# Rebuild the TensorRT engines for this node's GPU from the ONNX graphs already in the folder
# (no bundle, torch or transformers needed; the manifest keeps its provenance):
#   docker run --gpus all -v /data/engines:/engines tqscore:0.1.0 export --formats engine --out /engines

ARG CUDA_TAG=12.6.3-cudnn
ARG UBUNTU=ubuntu22.04

# ---------------------------------------------------------------------------------------------
FROM nvidia/cuda:${CUDA_TAG}-devel-${UBUNTU} AS decord-build
ARG DECORD_REF=v0.6.0
ARG NVDEC_DRIVER=550
# GPUs the NVDEC colour-conversion kernels are compiled for: V100 (sm_70), T4 (sm_75), A100 (sm_80),
# A10/A40 (sm_86), L4/L40S (sm_89), H100/H200 (sm_90), plus compute_90 PTX that newer GPUs JIT.
# decord v0.6.0 ignores -DCUDA_ARCH (its `include(cmake/util/FindCUDAArchFlags.cmake)` is commented
# out) and enables CUDA as a CMake language under cmake_minimum_required 3.8.2, so policy CMP0104 is
# OLD: CMake adds no architecture flags itself (CMAKE_CUDA_ARCHITECTURES=OFF says so explicitly) and
# the -gencode flags go through CMAKE_CUDA_FLAGS, which decord leaves alone. The build checks with
# cuobjdump that every sm_XX below is in libdecord.so.
ARG CUDA_SMS="70 75 80 86 89 90"
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
RUN gencode="$(for sm in ${CUDA_SMS}; do printf ' -gencode=arch=compute_%s,code=sm_%s' "$sm" "$sm"; done)" \
    && last="${CUDA_SMS##* }" \
    && cmake .. -DUSE_CUDA=/usr/local/cuda -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=OFF \
         -DCMAKE_CUDA_FLAGS="${gencode} -gencode=arch=compute_${last},code=compute_${last}" \
    && make -j"$(nproc)" \
    && for sm in ${CUDA_SMS}; do cuobjdump --list-elf libdecord.so | grep -q "sm_${sm}" \
         || { echo "libdecord.so has no sm_${sm} code" >&2; exit 1; }; done
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
# imported, so they are only located here): every command module imports and registers its
# arguments (what `tqscore --help` does), the CUDA provider is packaged, torch is absent.
RUN pip install "onnxruntime-gpu==${ORT_VERSION}" "tensorrt==${TRT_VERSION}" ".[gpu]" \
    && python -c "import importlib, importlib.util as u, onnxruntime, tqscore.cli as cli; \
[importlib.import_module(m) for m in cli.COMMAND_MODULES]; cli.build_parser(); \
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
