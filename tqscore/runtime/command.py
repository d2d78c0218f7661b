"""``tqscore batch DIR --out scores.parquet``: score a directory of videos into one Parquet table.

The help text below (``HELP``) is what a user reads; it is plain text for argparse's
``RawDescriptionHelpFormatter``, so it carries no markup.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from tqscore.cli import EXIT_OK, EXIT_SOME_FAILED, FAILURES, exit_code

HELP = """\
Score every video under DIR into one Parquet table, one row per file.

Examples:
  tqscore batch ./videos --out scores.parquet
  tqscore batch ./videos --out scores.parquet --engines engines/ --workers 7
  tqscore batch /data/videos --out /results/scores-3.parquet --shard 3/8
  tqscore batch ./videos --out scores.parquet --retry-errors   # redo the error rows
  tqscore batch /data/videos --out scores.parquet --engines /engines --ray auto   # on a Ray cluster

A second run over the same DIR and OUT resumes: files that already have a row are skipped.

Exit codes (for schedulers):
  0    the output is complete and every row is ok
  1    the output is complete, but some rows are error or no_face (listed at the end)
  2    the run itself failed (bad arguments, missing input folder, engines that do not load,
       output not writable, another run writing the same output); the output from before
       the run is left as it was
  130  stopped by Ctrl-C (SIGINT); finished rows are kept, run again to resume
  143  stopped by SIGTERM (a scheduler stopping the job); finished rows are kept
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="score every video under a directory into a Parquet table",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_inputs(p)
    _add_scoring(p)
    _add_run_options(p)
    p.set_defaults(func=run)


def _add_inputs(p: argparse.ArgumentParser) -> None:
    """What to score and where the rows go, and the page written at the end."""
    from tqscore.media.discovery import DEFAULT_EXTENSIONS
    from tqscore.report.command import GROUP_BY_HELP, MATCH_HELP

    p.add_argument("input_dir", type=_input_location, metavar="DIR",
                   help="directory to scan (recursively); with --ray also an object-store URI (s3://, gs://, ...)")
    p.add_argument("--out", type=Path, required=True, help="output Parquet file (parts go to OUT.parts/ until the end)")
    p.add_argument("--shard", default="0/1", metavar="I/N",
                   help="score only shard I of N (by a hash of each relative path; default 0/1)")
    p.add_argument("--ext", default=",".join(e.lstrip(".") for e in DEFAULT_EXTENSIONS),
                   help="comma-separated video extensions, case-insensitive (default: %(default)s)")
    p.add_argument("--report", type=Path, default=None, metavar="HTML",
                   help="also write the `tqscore report` page for the output at the end (videos from DIR)")
    p.add_argument("--group-by", default=None, metavar="folder|REGEX",
                   help="with --report, as `tqscore report --group-by`: " + GROUP_BY_HELP + "; adds the page's "
                   "groups and paired-comparison sections and their CSV tables beside HTML")
    p.add_argument("--match", default=None, metavar="REGEX",
                   help="with --report and --group-by, as `tqscore report --match`: " + MATCH_HELP)


def _add_scoring(p: argparse.ArgumentParser) -> None:
    """The model, the rules and where they run."""
    from tqscore.runtime.config import DECODE_DEVICES, DEVICES, PRECISIONS

    p.add_argument(
        "--engines",
        type=Path,
        default=os.environ.get("TQSCORE_ENGINES") or None,
        help="engine folder made by `tqscore export` (default: $TQSCORE_ENGINES); without it "
        "the reference scorer (docs/scores.md) fills the five scores from the signals",
    )
    p.add_argument("--syncnet", type=Path, default=os.environ.get("TQSCORE_SYNCNET") or None,
                   help="SyncNet weights converted by `tqscore export-syncnet` (default: $TQSCORE_SYNCNET); "
                   "without them the syncnet_* columns are null")
    p.add_argument("--scorer", type=Path, default=None, metavar="FILE",
                   help="calibration from `tqscore calibrate` (docs/calibration.md): the reference scorer with weights "
                   "fitted to your labels; a resumed run re-scores rows made with another scorer from their signals")
    p.add_argument("--rules", type=Path, default=None, metavar="FILE",
                   help="verdict rules table (YAML, the format of tqscore/model/rules.yaml, docs/scores.md) replacing "
                   "the package's own")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the engines run: auto = TensorRT engines when built for this GPU, else ONNX Runtime "
                   "(TensorRT/CUDA/CPU provider); tensorrt = the FP16 engines or fail (default: auto)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="ResNet101 on the CPU: auto = the INT8 graph when the engine folder has a current one "
                   "(`tqscore export --formats onnx-int8`), else FP32; fp32; int8 = the INT8 graph or fail "
                   "(default: auto; GPUs always run FP16/FP32)")
    p.add_argument("--decode-device", choices=DECODE_DEVICES, default="auto",
                   help="where frames decode: auto = NVDEC through PyNvVideoCodec where it is installed and a GPU "
                   "answers, else PyAV on the CPU (the CPU when a model scores: docs/runtime.md); cpu = PyAV; "
                   "cuda = NVDEC or fail (default: auto)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """How the run goes: workers, batches, crash safety, resume, Ray, progress."""
    from tqscore.runtime.config import default_workers

    p.add_argument("--workers", type=int, default=None,
                   help="CPU worker processes for decoding, Face Mesh, crops, signals (default: "
                   f"{default_workers()}, one per core less one); with --ray, the most analysis tasks at once "
                   "(default: as many as the cluster has CPUs)")
    p.add_argument("--batch-size", type=int, default=64, help="frames per visual-engine batch (default: %(default)s)")
    p.add_argument("--audio-batch", type=int, default=1,
                   help="equal-length HuBERT windows per batch; >1 is faster on a GPU, but a clip's scores may then "
                   "differ in the last float digits with its neighbours (default: %(default)s)")
    p.add_argument("--clip-timeout", type=float, default=600.0,
                   help="seconds one file may take in a worker before it is given up as an error (default: %(default)s)")
    p.add_argument("--part-rows", type=int, default=32,
                   help="rows per crash-safe part file: at most this many rows are redone after a kill (default: %(default)s)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over: ignore rows from earlier runs (resuming is the default)")
    p.add_argument("--retry-errors", action="store_true",
                   help="resume, but analyse again the files whose row is an error (worth it after a killed "
                   "worker, a timeout or a full disk; a corrupt file fails again)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run on Ray Data (pip install 'tqscore[ray]'): analysis as CPU tasks, engines as an actor "
                   "pool (one GPU each when there are GPUs); ADDRESS = auto (the running cluster) or host:port; "
                   "without ADDRESS a Ray instance is started on this machine (docs/runtime.md)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _input_location(text: str) -> Path | str:
    """A URI stays a string: ``Path`` would fold ``s3://bucket`` into ``s3:/bucket``."""
    from tqscore.runtime.config import is_uri

    return text if is_uri(text) else Path(text)


def run(args: argparse.Namespace) -> int:
    from tqscore.errors import ConfigError
    from tqscore.media.discovery import Shard, normalize_extensions
    from tqscore.runtime.config import BatchConfig

    try:
        cfg = BatchConfig(
            input_dir=args.input_dir,
            out=args.out,
            engines=args.engines,
            syncnet=args.syncnet,
            rules=args.rules,
            scorer=args.scorer,
            device=args.device,
            decode_device=args.decode_device,
            precision=args.precision,
            extensions=normalize_extensions(args.ext.split(",")),
            shard=Shard.parse(args.shard),
            workers=args.workers,
            batch_size=args.batch_size,
            audio_batch=args.audio_batch,
            clip_timeout_s=args.clip_timeout,
            part_rows=args.part_rows,
            resume=args.resume,
            retry_errors=args.retry_errors,
            progress=args.progress,
            ray=args.ray,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    page = _report_config(args, cfg)
    code = execute(cfg)
    if page is not None and code in (EXIT_OK, EXIT_SOME_FAILED):
        from tqscore.report.command import write_page

        write_page(page, "batch")
    return code


def _report_config(args: argparse.Namespace, cfg):
    """The ``ReportConfig`` of ``--report`` (None without it), its options checked before the run."""
    from tqscore.errors import ConfigError

    if args.report is None:
        if args.group_by is not None or args.match is not None:
            raise ConfigError("--group-by and --match are options of the page: they need --report HTML")
        return None
    from tqscore.report import ReportConfig
    from tqscore.report.command import check_grouping

    check_grouping(args.group_by, args.match)
    return ReportConfig(cfg.out, args.report, videos=cfg.input_dir, progress=cfg.progress,
                        group_by=args.group_by, match=args.match)


def execute(cfg) -> int:
    """Run and print the closing summary; the outcome's exit code (``tqscore.cli.exit_code``)."""
    from tqscore.runtime.pipeline import run_batch

    stop = _stopper()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        summary = run_batch(cfg)
    except FAILURES as exc:
        return exit_code("batch", exc, after_stop="; finished rows are kept, run again to resume")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"tqscore batch: wrote {cfg.out}")
    for line in summary.lines():
        print(f"  {line}")
    return EXIT_OK if summary.all_ok else EXIT_SOME_FAILED


def _stopper():
    """The handler of SIGTERM and SIGINT during a run. SIGTERM (a pod being stopped) ends the run
    like Ctrl-C: finished rows are saved first, then the workers are ended, within a few seconds
    whatever they are doing. The signal's name rides on the KeyboardInterrupt, which ``exit_code``
    turns into 143 or 130."""
    stopping = []

    def stop(signum, frame):
        if stopping:  # a second signal while stopping: the first one is already being handled
            return
        stopping.append(signum)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    return stop
