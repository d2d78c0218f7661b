"""``tqscore report``: one self-contained HTML page for a ``tqscore batch`` table.

After a nightly run nobody reads the Parquet file row by row. ``write_report`` turns a table into
the page they open: first the fail and review clips to hold back and why (most severe first);
with ``group_by``, the groups ranked with bootstrap intervals and compared input by input
(``tqscore.report.groups``, ``tqscore.report.paired``, also printed by ``tqscore compare``); then
the clips' cards with frames, mouth crops and the sync curve decoded again for those clips only,
the worst clips per dimension, a histogram per score and signal with the real-footage band, the
run (statuses, errors by cause, ids, time per stage), and a sortable, filterable table of every
row. Everything is inlined (no network), so the page opens from a mail attachment or an artefact
store.
"""

__all__ = ["ReportConfig", "write_report"]


def __getattr__(name: str):
    """``ReportConfig`` and ``write_report`` load ``tqscore.report.build`` (polars, matplotlib, SciPy)
    when first used, so that ``tqscore --help``, which imports ``tqscore.report.command``, does not."""
    if name in __all__:
        from tqscore.report import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
