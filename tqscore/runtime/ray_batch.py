"""``tqscore batch --ray [ADDRESS]``: the same per-clip code, spread over a Ray cluster by Ray Data.

Why Ray Data: a nightly run of 100,000+ clips on a shared cluster has CPU machines for decoding and
Face Mesh and a few GPU machines for the engines. ``--shard`` pairs each machine's CPUs with its
own GPU, statically; Ray Data streams the clips from CPU tasks anywhere in the cluster into an
actor pool on the GPUs, keeps both busy and retries what a lost node was doing. Nothing here is a
second pipeline: ``tqscore.runtime.pipeline.run_batch`` still discovers, plans the resume, writes
every row through ``ResultStore`` and finishes atomically; this module only replaces where the
analyses come from and where the engines run:

- **Analysis**: one Ray task per file (a block of one row, so a crash costs one file), running
  ``analyse.analyse_clip`` with the ``worker_init`` state kept once per Ray worker process; as many
  at once as the cluster has CPUs, or ``--workers`` at most.
- **Engines**: an actor pool (``map_batches`` over a callable class) holding
  ``scoring.EngineScorer``; ``num_gpus=1`` per actor when a GPU is asked for or found. Each call
  gets up to ``group_clips`` analysed clips and returns them all scored: its visual batches are
  exactly ``--batch-size`` frames, the last one zero-padded. A call keeps nothing for the next
  one, so a restarted actor or a retried call can neither lose nor repeat a clip; fixed shapes
  keep a clip's scores independent of its neighbours (the same guarantee as the local run).
- **Rows**: made on the driver by the pipeline's own ``_row`` (statuses, the NaN guard, the
  verdict rules), keyed and resumed exactly as a local run.

Faults: a worker process that dies is retried ``TASK_RETRIES`` times (an actor restarted
``ACTOR_RESTARTS`` times, its call retried); a file whose task still fails is skipped by Ray Data
(``max_errored_blocks``) and becomes one ``error`` row here. Ray Data has no per-task timeout,
so each task arms a timer of ``--clip-timeout`` that ends its worker process: a file that hangs
its decoder costs its retries and then an ``error`` row, like one that crashes it. A killed
driver loses at most the rows not yet in a part file: running the command again resumes like a
local run.

Analyses travel from the tasks to the actors and the driver as pickles of our own dataclasses
(Ray pickles every task argument the same way); no user file is ever unpickled.

Inputs: a folder every node sees at the same path (a shared file system), or an object-store
URI (``s3://``, ``gs://``, ``file://`` ...) that ``pyarrow.fs`` opens: listed from the driver,
each file copied to the task's local temporary folder for the decoders, which read local files.
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import polars as pl

from tqscore.errors import RunError, TqscoreError
from tqscore.media.discovery import Scan, Shard, extension_of, normalize_extensions
from tqscore.runtime.analyse import ClipTask, analyse_clip, error_analysis, worker_init
from tqscore.runtime.config import BatchConfig, is_uri
from tqscore.runtime.scoring import Scored, SignalsScorer, load_scorer
from tqscore.runtime.workers import WorkerInitError, release_freed_memory

log = logging.getLogger(__name__)

# Ray Data retries a task whose worker died without limit by default; a file that segfaults its
# decoder every time would then never end the run. Two retries tell a lost node (the retry
# succeeds elsewhere) from a file that kills whatever opens it (all three attempts die).
TASK_RETRIES = 2
ACTOR_RESTARTS = 2  # an engine actor killed (node lost, OOM) is restarted this often, its call retried
LOCAL = "local"  # `--ray` without an address: start a Ray instance on this machine
# The local pipeline's prefix for a worker that died; kept so `--retry-errors` advice reads the same.
DIED = "worker process died"

_STATE: dict = {}  # per Ray worker process: worker_init's models, loaded on its first file


# ----- driver side


class RayScorer:
    """The ``scoring.Scorer`` of a run on Ray: the engines' ids, learnt where they will run, and
    ``scored``, the stream of (analysis, scores) from Ray Data. Without engines the driver scores
    each analysis with ``SignalsScorer`` as it arrives."""

    def __init__(self, model_id, engine_id, needs_inputs: bool, num_gpus: float, actors: int, started: bool):
        self.model_id, self.engine_id, self.needs_inputs = model_id, engine_id, needs_inputs
        self.num_gpus, self.actors, self._started = num_gpus, actors, started
        self._signals = None if needs_inputs else SignalsScorer()
        if self._signals is not None:
            self.model_id = self._signals.model_id

    @classmethod
    def connect(cls, cfg: BatchConfig) -> RayScorer:
        """Start or join the cluster; learn the engines' ids where they will run (fails the run, exit 2,
        when they do not load there, as a local run does)."""
        try:
            import ray
        except ImportError:
            raise RunError("--ray needs Ray Data: pip install 'tqscore[ray]'") from None

        started = not ray.is_initialized()
        if started:
            # ray.init replaces SIGTERM's handler with sys.exit; the command's own (save the
            # finished rows, exit 143) must stay.
            on_sigterm = signal.getsignal(signal.SIGTERM)
            _init_ray(cfg.ray)
            if threading.current_thread() is threading.main_thread() and on_sigterm is not None:
                signal.signal(signal.SIGTERM, on_sigterm)
        _quiet_ray_data()
        if cfg.engines is None:
            return cls(None, None, False, 0, 0, started)
        if not os.path.isdir(cfg.engines):
            raise RunError("engine folder does not exist (build it with `tqscore export`)", cfg.engines)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        wants_gpu = cfg.device in ("cuda", "tensorrt") or (cfg.device == "auto" and gpus > 0)
        if wants_gpu and gpus < 1:
            raise RunError(f"--device {cfg.device} asks for a GPU, but the Ray cluster has none")
        num_gpus = 1 if wants_gpu else 0
        identity = ray.remote(_engine_identity).options(num_cpus=1, num_gpus=num_gpus, max_retries=TASK_RETRIES)
        ok, model_id, engine_id = ray.get(identity.remote(str(cfg.engines), cfg.device, cfg.precision))
        if not ok:
            raise RunError(f"the engines do not load on the Ray workers: {model_id}", cfg.engines)
        actors = max(1, int(gpus)) if wants_gpu else 1
        log.info("Ray: engines %s on %d actor(s), %s GPU each", engine_id, actors, num_gpus)
        return cls(model_id, engine_id, True, num_gpus, actors, started)

    def rescore_stored(self, table: pl.DataFrame, signals_id: str) -> pl.DataFrame:
        """Without engines, as ``SignalsScorer`` does on the driver; engines' stored scores stand."""
        return table if self._signals is None else self._signals.rescore_stored(table, signals_id)

    @contextmanager
    def scored(self, cfg: BatchConfig, tasks: list[ClipTask]) -> Iterator[Iterator[Scored]]:
        try:
            yield self._stream(cfg, tasks)
        finally:
            if self._started:
                import ray

                ray.shutdown()

    def _stream(self, cfg: BatchConfig, tasks: list[ClipTask]) -> Iterator[Scored]:
        import ray.data

        items = [{"i": i, "task": pickle.dumps(task)} for i, task in enumerate(tasks)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))  # one file per block: a crash costs one
        # Retry limits can only be given as plain remote args before Ray 2.64 (which removes them,
        # hence the extra's pin); Ray Data warns about them on every call.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            ds = ds.map(_analyse_row, fn_kwargs={"syncnet": str(cfg.syncnet) if cfg.syncnet else None,
                                                 "timeout_s": cfg.clip_timeout_s},
                        num_cpus=1, max_retries=TASK_RETRIES,
                        compute=ray.data.TaskPoolStrategy(size=cfg.workers))
            if self.needs_inputs:
                ds = ds.map_batches(
                    _EngineActor, batch_size=cfg.group_clips, batch_format="numpy",
                    compute=ray.data.ActorPoolStrategy(size=self.actors),
                    fn_constructor_kwargs={"engines": str(cfg.engines), "device": cfg.device,
                                           "batch_size": cfg.batch_size, "audio_batch": cfg.audio_batch,
                                           "precision": cfg.precision},
                    num_cpus=1, num_gpus=self.num_gpus, max_restarts=ACTOR_RESTARTS, max_task_retries=TASK_RETRIES,
                )
        seen: set[int] = set()
        for row in ds.iter_rows():
            i = int(row["i"])
            if i in seen:  # a block delivered twice would write its row twice: the key decides, once
                continue
            seen.add(i)
            analysis, scores = pickle.loads(row["result"])
            if analysis is None:
                raise WorkerInitError(f"a Ray worker could not start: {scores}")
            if self._signals is not None:
                (analysis, scores), = self._signals.add([analysis])
            yield analysis, scores
        for i, task in enumerate(tasks):  # skipped by Ray Data after every attempt died
            if i not in seen:
                log.warning("%s: every Ray attempt at it died; written as an error row", task.path)
                yield error_analysis(task, f"{task.path}: {DIED} on all {TASK_RETRIES + 1} attempts "
                                     "(Ray task; a decoder crash, out of memory, or longer than "
                                     f"--clip-timeout {cfg.clip_timeout_s:g} s each time)"), None


def _init_ray(address: str) -> None:
    import ray

    # Workers log WARNING and above to the driver's stderr (Ray forwards them, prefixed by pid).
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": False}
    if address == LOCAL:
        ray.init(address="local", **kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise RunError(f"cannot join the Ray cluster at {address}: {exc}") from None
    log.info("Ray cluster: %s", {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")})


def _quiet_ray_data() -> None:
    """Our progress bar and summary say what Ray Data's would; a file that dies on every attempt is a row."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.max_errored_blocks = -1
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "Progress bars disabled": we know


def _engine_identity(engines: str, device: str, precision: str):
    """(ok, model_id or the error, engine_id) of the engines as a worker of the cluster loads them."""
    try:
        scorer = load_scorer(engines, device, precision=precision)
    except (TqscoreError, OSError) as exc:
        return False, " ".join(str(exc).split()), None
    return True, scorer.model_id, scorer.engine_id


# ----- cluster side


def _analyse_row(row: dict, syncnet: str | None, timeout_s: float) -> dict:
    """One Ray Data task: ``analyse_clip`` on one file, as a local worker runs it; a worker still
    on it after ``timeout_s`` (the models' first load excluded) is ended, as the local pool ends
    one, and Ray retries the file like a crash."""
    task: ClipTask = pickle.loads(row["task"])
    state = _STATE.get(syncnet)
    if state is None:
        try:
            state = _STATE[syncnet] = worker_init(syncnet)
        except Exception as exc:  # not the file's fault: the driver ends the run (exit 2), as a local run does
            return {"i": row["i"], "result": pickle.dumps((None, f"{type(exc).__name__}: {exc}"))}
    watchdog = threading.Timer(timeout_s, _end_worker, (task.path, timeout_s))
    watchdog.daemon = True
    watchdog.start()
    try:
        with _local_file(task) as local:
            analysis = analyse_clip(state, local)
        analysis.task = task
        if analysis.error and local.path != task.path:  # the error names the file the user gave, not our copy
            analysis.error = analysis.error.replace(local.path, task.path)
    except Exception as exc:  # the task's own failure is the file's row, as in the local pool
        analysis = error_analysis(task, f"{task.path}: {type(exc).__name__}: {exc}")
    finally:
        watchdog.cancel()
    result = pickle.dumps((analysis, None), protocol=pickle.HIGHEST_PROTOCOL)
    del analysis
    release_freed_memory()
    return {"i": row["i"], "result": result}


def _end_worker(path: str, timeout_s: float) -> None:
    # A hung decoder holds the task's thread in C, where no exception reaches it: only the
    # process can end, and Ray then retries the file on a fresh worker.
    log.warning("%s: still analysing after %g s (--clip-timeout): ending this Ray worker", path, timeout_s)
    os._exit(1)


class _EngineActor:
    """One engine set per actor; each call scores its clips completely (see the module docstring)."""

    def __init__(self, engines: str, device: str, batch_size: int, audio_batch: int, precision: str):
        self.scorer = load_scorer(engines, device, batch_size, audio_batch, precision)

    def __call__(self, batch: dict) -> dict:
        results = [pickle.loads(blob) for blob in batch["result"]]
        analyses = [a for a, _ in results if a is not None]  # None: a worker that could not start
        finished = self.scorer.add(analyses) + self.scorer.flush()
        by_key = {id(a): (a, s) for a, s in finished}
        out = [pickle.dumps(by_key[id(a)] if a is not None else (a, s), protocol=pickle.HIGHEST_PROTOCOL)
               for a, s in results]
        del results, analyses, finished, by_key
        release_freed_memory()
        return {"i": batch["i"], "result": out}


@contextmanager
def _local_file(task: ClipTask):
    """The task itself for a local path; for a URI, a copy in a temporary folder (removed after)."""
    if not is_uri(task.path):
        yield task
        return
    from pyarrow import fs

    from tqscore.media import MediaError

    folder = tempfile.mkdtemp(prefix="tqscore-ray-")
    try:
        local = os.path.join(folder, "clip" + os.path.splitext(task.rel)[1])
        try:
            filesystem, path = fs.FileSystem.from_uri(task.path)
            with filesystem.open_input_stream(path) as src, open(local, "wb") as dst:
                shutil.copyfileobj(src, dst, length=8 << 20)
        except OSError as exc:
            raise MediaError(task.path, f"cannot read it: {exc}") from None
        yield replace(task, path=local)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----- object-store inputs


def scan_uri(uri: str, extensions: tuple[str, ...], shard: Shard) -> tuple[Scan, dict[str, tuple[int, int]]]:
    """The files under ``uri`` as ``discovery.scan`` lists a folder (sorted, sharded), and each
    file's (size, mtime in microseconds) from the same listing (the resume key)."""
    from pyarrow import fs

    from tqscore.media import MediaError

    extensions = normalize_extensions(extensions)
    try:
        filesystem, root = fs.FileSystem.from_uri(uri)
        infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=False))
    except (OSError, ValueError) as exc:
        raise MediaError(uri, f"cannot list the input: {exc}") from None
    stats, left_out = {}, Counter()
    prefix = root.rstrip("/") + "/"
    for info in infos:
        if info.type != fs.FileType.File:
            continue
        rel = info.path[len(prefix):] if info.path.startswith(prefix) else info.base_name
        if not shard.owns(rel):
            continue
        if not info.base_name.lower().endswith(extensions):
            left_out[extension_of(info.base_name)] += 1
            continue
        mtime = info.mtime_ns if info.mtime_ns is not None else 0
        stats[rel] = (info.size, mtime // 1000)
    return Scan(files=sorted(stats), unreadable=[], left_out=left_out), stats
