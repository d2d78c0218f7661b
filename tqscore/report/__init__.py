"""``tqscore report``: one self-contained HTML page for a ``tqscore batch`` table.

After a nightly run nobody reads the Parquet file row by row: they look at where the scores
fall, which clips are worst and why. ``write_report`` turns a table into the page they open:
the run (statuses, errors by cause, ids, time per stage), a histogram per score and signal
with the real-footage band, the worst clips per dimension with frames, mouth crops and the
sync curve decoded again for those clips only, and a sortable, filterable table of every row.
Everything is inlined (no network), so the page opens from a mail attachment or an artefact
store.
"""

from tqscore.report.build import ReportConfig, write_report

__all__ = ["ReportConfig", "write_report"]
