"""Run every benchmark in its full mode and write one dated record of the measured figures.

Each benchmark prints its own tables, with the ratio against the baseline it measures in the same
run (the machine may be shared and noisy, so absolute seconds drift between runs; the ratios are
what to compare). This script runs them one after another, so no two compete for the cores, and
writes each one's command, wall time and output under the machine it ran on and the date. A
benchmark that needs a GPU prints "not measured: no GPU" for those figures on a CPU machine.

    python benchmarks/run_all.py                      # all, writes docs/notes/<date>-benchmarks-run.md
    python benchmarks/run_all.py --only media_decode,signals_sync --out /tmp/bench.md
    python benchmarks/run_all.py --smoke              # every script's smoke mode, to a temp file
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import common


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    args: tuple[str, ...]  # the full mode's arguments
    measures: str


# The order is the data flow's; a full run of all takes well over an hour on a 2-core machine.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("media_decode", "media_decode.py", ("--repeats", "3"), "seconds per clip to decode the standard clip, decord and PyAV vs a bare PyAV loop"),
    Benchmark("features_timing", "features_timing.py", (), "seconds per clip of each extract stage (full-size random-weight backbones) and peak RSS"),
    Benchmark("signals_speed", "signals_speed.py", (), "signals-only `tqscore batch`: each stage per clip, the row against decode + Face Mesh, peak worker RSS"),
    Benchmark("signals_sync", "signals_sync.py", (), "sync equivariance vs SOURCES.md's simple estimator, own vs swapped audio, DNSMOS under noise, cost per signal"),
    Benchmark("dnsmos_speed", "dnsmos_speed.py", (), "DNSMOS with shared convolutions vs one run per 9-s segment"),
    Benchmark("degradations", "degradations.py", (), "share of severity steps in which each signal moves in its documented direction, per degradation"),
    Benchmark("training_epoch", "training_epoch.py", ("--batches", "3", "--val-clips", "32"), "seconds per training epoch at the seed's size, both configs"),
    Benchmark("training_ablation", "training_ablation.py", (), "the E0-E8 ablation table on synthetic data"),
    Benchmark("export_parity", "export_parity.py", (), "folded fusion graph vs the float64 reference"),
    Benchmark("export_throughput", "export_throughput.py", ("--image-batches", "8", "--audio-batch", "1", "--threads", "1"),
              "ResNet101 / HuBERT throughput, ONNX Runtime vs PyTorch eager (TensorRT on a GPU)"),
    Benchmark("int8", "int8.py", (), "ResNet101 INT8 vs FP32 ONNX Runtime (and OpenVINO): images/s, feature cosine, score drift"),
    Benchmark("runtime_e2e", "runtime_e2e.py", ("--long-run", "0"), "end-to-end `tqscore batch` vs the PyTorch-eager reference and vs its slowest stage alone"),
    Benchmark("runtime_memory", "runtime_e2e.py", ("--clips", "0"), "resident memory of a 210-file `tqscore batch` run, files 20 and 200"),
    Benchmark("report_scale", "report_scale.py", (), "`tqscore report` on 100,000 rows resampled from real rows: build time, file size"),
    Benchmark("gpu_check", "gpu_check.py", (), "the one-shot GPU check (not measured: no GPU on a CPU machine)"),
)


# Scripts in the folder that measure nothing themselves: helpers and the tool that saves dense passes.
NOT_BENCHMARKS = {"common.py", "dense_passes.py"}


def known() -> tuple[Benchmark, ...]:
    """The table above plus any script added to the folder since (run with no arguments)."""
    listed = {b.script for b in BENCHMARKS}
    here = Path(__file__).resolve().parent
    extra = sorted(p.name for p in here.glob("*.py")
                   if p.name not in listed | {Path(__file__).name} | NOT_BENCHMARKS
                   and 'if __name__ == "__main__":' in p.read_text())
    return BENCHMARKS + tuple(Benchmark(name.removesuffix(".py"), name, (), "(see the script's docstring)") for name in extra)


def run(bench: Benchmark, smoke: bool) -> tuple[str, int, float, str]:
    args = ("--smoke",) if smoke else bench.args
    command = " ".join(["python", f"benchmarks/{bench.script}", *args])
    tick = time.perf_counter()
    done = subprocess.run([sys.executable, str(common.REPO / "benchmarks" / bench.script), *args],
                          cwd=common.REPO, capture_output=True, text=True)
    output = done.stdout if done.returncode == 0 else done.stdout + "\n" + done.stderr[-4000:]
    return command, done.returncode, time.perf_counter() - tick, output.strip()


def page(results: list[tuple[Benchmark, str, int, float, str]], skipped: list[Benchmark], machine: dict[str, str],
         smoke: bool) -> str:
    lines = [
        "# Measured figures",
        "",
        "Written by `python benchmarks/run_all.py`; do not edit by hand, rerun it. Every figure below",
        "comes from the command above it, on this machine, on this date; ratios are against a baseline",
        "measured in the same run. The per-stage docs point here instead of keeping their own copies.",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory']} memory, GPU: {machine['gpu']}",
        f"- load average when the run started: {machine['load']}",
    ]
    if smoke:
        lines.append("- SMOKE MODE: tiny models, one or two clips; these numbers measure nothing worth quoting")
    lines += ["", "| benchmark | measures | wall s | status |", "|---|---|---|---|"]
    lines += [f"| [{b.name}](#{b.name.replace('_', '-')}) | {b.measures} | {wall:.0f} | {'ok' if rc == 0 else f'FAILED ({rc})'} |"
              for b, _, rc, wall, _ in results]
    lines += [f"| {b.name} | {b.measures} | | not run in this pass: `python benchmarks/{' '.join((b.script, *b.args))}` |"
              for b in skipped]
    for b, command, rc, wall, output in results:
        lines += ["", f"## {b.name.replace('_', '-')}", "", f"`{command}` ({wall:.0f} s, exit {rc})", "", "```", output, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--only", default="", help="comma-separated benchmark names (the first column of BENCHMARKS)")
    p.add_argument("--out", type=Path, help="page to write [docs/notes/<today>-benchmarks-run.md; a temp file with --smoke]")
    args = p.parse_args()
    wanted = {name.strip().removesuffix(".py") for name in args.only.split(",") if name.strip()}
    benches = [b for b in known() if not wanted or b.name in wanted]
    if args.smoke and not wanted:
        benches = benches[:1]  # the smoke test covers every script on its own; here only the page writer
    machine = common.machine()
    results = []
    for bench in benches:
        command, rc, wall, output = run(bench, args.smoke)
        print(f"{bench.script}: exit {rc} in {wall:.0f} s", flush=True)
        results.append((bench, command, rc, wall, output))
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="tqscore-bench-")) / "benchmarks.md" if args.smoke else _record_path()
    skipped = [b for b in known() if b not in benches]
    out.write_text(page(results, skipped, machine, args.smoke))
    print(f"wrote {out}")
    return 0 if all(rc == 0 for *_, rc, _, _ in results) else 1


def _record_path() -> Path:
    """A dated run record beside the others: docs/benchmarks.md is the reference, not a record."""
    return common.REPO / "docs" / "notes" / f"{time.strftime('%Y-%m-%d')}-benchmarks-run.md"


if __name__ == "__main__":
    sys.exit(main())
