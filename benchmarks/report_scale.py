"""Report at scale: a 100,000-row table made by resampling real rows, built and opened in Chromium.

The rows come from a real ``tqscore batch`` over ../shared/media (signals and the reference
scorer, no engines), drawn with replacement (seed 0). Each resampled row gets its own path, a
symlink to its source clip, so the worst clips are decoded as distinct files, as in a real run.
What resampling does not reproduce: six source clips give only six distinct values per column,
so dictionary-coded strings (reasons) are fewer than in a real night; numbers take as many bytes
as real ones (3 significant digits either way).

With ``--groups N`` the rows are spread over N folders that share their inputs (row i is input
i // N of group i % N), and the page is built with ``--group-by folder``: N groups, N(N-1)/2 pairs.

Figures: build time by phase, file size, and in headless Chromium the page's load time, the time
to sort the 100,000 rows by a column and to filter them. Baseline measured in the same run:
polars writing the same table as JSON (a floor for turning every value into text). Targets:
``tqscore.report.build.BUILD_LIMIT_S`` and ``SIZE_LIMIT_MB``, the page responsive (sort and
filter well under 1 s).

    python benchmarks/report_scale.py                 # 100,000 rows, --top 12
    python benchmarks/report_scale.py --source scores.parquet --videos ../shared/media --groups 30
    python benchmarks/report_scale.py --smoke         # 2,000 rows from a batch over one 4-s clip
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

def source_table(args, work: Path) -> tuple[Path, Path]:
    """(batch table, the folder its paths are relative to): given, or made now by tqscore batch."""
    if args.source is not None:
        return args.source, args.videos or common.MEDIA
    videos = work / "media"
    videos.mkdir()
    if args.smoke:
        common.smoke_clip(videos)
    else:
        for rel in (p.relative_to(common.MEDIA).as_posix() for p in common.media_clips()):
            (videos / rel).parent.mkdir(parents=True, exist_ok=True)
            (videos / rel).symlink_to(common.MEDIA / rel)
    out = work / "source.parquet"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tqscore.cli", "batch", str(videos), "--out", str(out),
                           "--workers", "1", "--no-progress"], capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"tqscore batch failed ({done.returncode}): {done.stderr.strip()}")
    print(f"source: tqscore batch over {videos} ({len(list(videos.rglob('*.mp4')))} clips) "
          f"in {time.perf_counter() - started:.1f} s")
    return out, videos


def resample(source: Path, videos: Path, rows: int, work: Path, groups: int) -> tuple[Path, Path]:
    import numpy as np
    import polars as pl

    table = pl.read_parquet(source)
    pick = np.random.default_rng(0).integers(0, table.height, rows)
    sample = table[pick]
    if groups:
        names = [f"g{i % groups:02d}/input{i // groups:06d}{Path(p).suffix}"
                 for i, p in enumerate(sample.get_column("path").to_list())]
    else:
        names = [f"r{i:06d}_{Path(p).name}" for i, p in enumerate(sample.get_column("path").to_list())]
    links = work / "videos"
    links.mkdir()
    for name, original in zip(names, sample.get_column("path").to_list()):
        (links / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink((Path(videos) / original).resolve(), links / name)
    out = work / f"scores-{rows}.parquet"
    sample.with_columns(pl.Series("path", names)).write_parquet(out)
    return out, links


def browser_figures(html: Path) -> dict[str, float] | str:
    from tqscore.testing.browser import chromium, chromium_paths

    if not all(chromium_paths()):
        return "not measured: no chromium / chromedriver"
    with chromium() as driver:
        started = time.perf_counter()
        driver.get(html.resolve().as_uri())
        load_s = time.perf_counter() - started
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if severe:
            raise SystemExit(f"console errors: {severe}")
        sort_ms = driver.execute_script(
            "const t = performance.now(); document.querySelector('#rows-table th[data-column=\"overall\"]').click();"
            "return performance.now() - t;")
        filter_ms = driver.execute_script(
            "const f = document.getElementById('filter'); f.value = 'status=ok overall<4';"
            "const t = performance.now(); f.dispatchEvent(new Event('change')); return performance.now() - t;")
        page_ms = driver.execute_script(
            "const t = performance.now(); document.getElementById('next').click(); return performance.now() - t;")
        shown = driver.find_element("id", "count").text
        broken = driver.execute_script("return Array.from(document.images).filter(i => !i.naturalWidth).length")
    if broken:
        raise SystemExit(f"{broken} images do not decode")
    return {"load_s": load_s, "sort_ms": sort_ms, "filter_ms": filter_ms, "page_ms": page_ms, "shown": shown}


def main() -> int:
    p = common.parser(__doc__)
    p.add_argument("--rows", type=int, default=None, help="rows to resample (default 100,000; 2,000 with --smoke)")
    p.add_argument("--top", type=int, default=None, help="worst clips per dimension (default 12; 2 with --smoke)")
    p.add_argument("--source", type=Path, default=None, help="a batch table to resample instead of running batch")
    p.add_argument("--videos", type=Path, default=None, help="the folder --source's paths are relative to")
    p.add_argument("--keep", type=Path, default=None, help="copy the report here")
    p.add_argument("--groups", type=int, default=0, help="spread the rows over this many folders sharing inputs "
                   "and build with --group-by folder (default: no groups)")
    args = p.parse_args()
    rows = args.rows or (2000 if args.smoke else 100_000)
    top = args.top if args.top is not None else (2 if args.smoke else 12)

    import polars as pl

    from tqscore.report import ReportConfig, write_report
    from tqscore.report.build import BUILD_LIMIT_S, SIZE_LIMIT_MB

    print(f"machine: {common.machine()}")
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        work = Path(tmp)
        source, videos = source_table(args, work)
        table, links = resample(source, videos, rows, work, args.groups)
        frame = pl.read_parquet(table)
        started = time.perf_counter()
        frame.select(pl.exclude(pl.Binary)).write_json(work / "baseline.json")  # JSON has no bytes
        baseline_s = time.perf_counter() - started
        html = work / "report.html"
        stats = write_report(ReportConfig(table, html, videos=links, top=top, progress=False,
                                          workers=1 if args.smoke else (os.cpu_count() or 1),
                                          group_by="folder" if args.groups else None))
        figures = browser_figures(html)
        if args.keep is not None:
            args.keep.write_bytes(html.read_bytes())
    size_mb = stats.bytes / 1e6
    print("\n| rows | worst clips decoded | build s | file MB | baseline (polars write_json) s | build / baseline |")
    print("|---|---|---|---|---|---|")
    print(f"| {stats.rows:,} | {stats.clips_decoded} | {stats.seconds:.1f} | {size_mb:.1f} | {baseline_s:.2f} | "
          f"{stats.seconds / baseline_s:.1f}x |")
    print("\nphases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stats.timings.items()))
    if isinstance(figures, str):
        print(f"browser: {figures}")
    else:
        print(f"browser: load {figures['load_s']:.2f} s, sort by overall {figures['sort_ms']:.0f} ms, "
              f"filter {figures['filter_ms']:.0f} ms, next page {figures['page_ms']:.0f} ms ({figures['shown']})")
    if not args.smoke:
        print(f"targets: build <= {BUILD_LIMIT_S:.0f} s {'met' if stats.seconds <= BUILD_LIMIT_S else 'NOT met'}; "
              f"file <= {SIZE_LIMIT_MB:.0f} MB {'met' if size_mb <= SIZE_LIMIT_MB else 'NOT met'}")
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
