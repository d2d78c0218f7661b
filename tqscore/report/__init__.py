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

from tqscore.report.build import ReportConfig, write_report

__all__ = ["ReportConfig", "write_report"]
