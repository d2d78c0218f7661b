"""Shared test inputs: the real clips in ../shared/media and tiny backbones saved to disk
(``tqscore.testing.backbones``: the real output widths, loaded by path as a user's run loads them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tqscore.testing import MEDIA
from tqscore.testing.backbones import save_tiny_hubert, save_tiny_resnet

REAL_CLIPS = sorted((MEDIA / "real").glob("*.mp4"))
GENERATED_CLIPS = sorted((MEDIA / "generated").glob("*.mp4"))
ALL_CLIPS = REAL_CLIPS + GENERATED_CLIPS
# Frontal clips with one clearly visible face (demo1_video has a small face in a portrait frame).
FRONTAL_CLIPS = [p for p in ALL_CLIPS if p.name != "demo1_video.mp4"]


def pytest_configure(config):
    if not ALL_CLIPS:
        raise pytest.UsageError(f"shared test media not found under {MEDIA}")


def pytest_xdist_make_scheduler(config, log):
    """With xdist (pyproject's addopts), each test file's tests run on one worker, so a file's
    module fixtures (a batch over real clips, a browser, a Ray instance) are made once; the
    benchmarks' smoke runs (a whole script each, no shared fixture, most of the suite's time) are
    handed out one by one, so no worker is left with all of them. xdist's own ``loadgroup`` would
    say this with marks, but under pytest 9.2 it groups nothing: it tags groups onto node ids,
    which pytest no longer reads back (https://github.com/pytest-dev/pytest-xdist/issues/1386)."""
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndSmokeRuns(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if "::test_smoke[" in nodeid else nodeid.split("::", 1)[0]

    return FilesAndSmokeRuns(config, log)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return MEDIA


@pytest.fixture(scope="session")
def frontend_of():
    """``frontend_of(path)``: ``run_frontend(path)`` with the default options, computed once per
    file (its real path, size and modification time) per test session. Decode and Face Mesh are
    most of a signal test's time, and several test files read the same shared clip, some through
    a symlink; tests only read the result (compute_signals may run on it again). The result names
    ``path`` as given, as ``run_frontend(path)`` does."""
    import dataclasses

    from tqscore.features.frontend import run_frontend

    cache: dict = {}

    def frontend(path):
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
        if key not in cache:
            cache[key] = run_frontend(path)
        fe = cache[key]
        clip = dataclasses.replace(fe.clip, info=dataclasses.replace(fe.clip.info, path=str(path)))
        return dataclasses.replace(fe, clip=clip)

    return frontend


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    return save_tiny_resnet(tmp_path_factory.mktemp("tiny-resnet"))


@pytest.fixture(scope="session")
def tiny_hubert_dir(tmp_path_factory) -> Path:
    return save_tiny_hubert(tmp_path_factory.mktemp("tiny-hubert"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One BLAS / torch thread for the training tests: on a busy 2-core machine two spinning
    threads per process ran them 6x slower (97 s vs 17 s measured). Restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
