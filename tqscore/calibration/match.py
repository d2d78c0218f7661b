"""Which row of a scores table each labelled video is.

A scores table stores paths relative to the folder ``tqscore batch`` scanned; a label file
names videos relative to its own folder. The two folders need not be the same, so a label's
path matches a table row whose path ends with it, component by component (a table made over
``shared/`` holds ``validation/adthqa-dev/wav2lip/Obama_Obama.mp4``, which the label
``wav2lip/Obama_Obama.mp4`` of ``validation/adthqa-dev/pairs.csv`` names). A label that is a
bare file name, or whose path fits no row, is matched by file name. A path or name that fits
two rows is an error naming both; nothing is dropped silently: every unmatched video is listed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from tqscore.calibration.labels import CalibrationError, LabelSet, normalise_video


@dataclass
class Matching:
    rows: dict[str, int] = field(default_factory=dict)  # labelled video -> table row
    how: dict[str, str] = field(default_factory=dict)  # labelled video -> "path" or "name"
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (line, video)

    def summary(self) -> dict:
        return {
            "matched_by_path": sum(h == "path" for h in self.how.values()),
            "matched_by_name": sorted(v for v, h in self.how.items() if h == "name"),
            "unmatched": [{"line": line, "video": video} for line, video in self.unmatched],
        }


def _suffixes(path: str) -> list[str]:
    parts = PurePosixPath(path).parts
    return ["/".join(parts[i:]) for i in range(len(parts))]


def match_videos(labels: LabelSet, table_paths: list[str], table_source: str) -> Matching:
    by_suffix: dict[str, list[int]] = defaultdict(list)
    by_name: dict[str, list[int]] = defaultdict(list)
    clean = [normalise_video(p) for p in table_paths]
    for i, p in enumerate(clean):
        for s in _suffixes(p):
            by_suffix[s].append(i)
        by_name[PurePosixPath(p).name].append(i)

    out = Matching()
    taken: dict[int, tuple[int, str]] = {}
    for line, video in labels.videos():
        how, hits = "path", (by_suffix.get(video, []) if "/" in video else [])
        if not hits:
            how, hits = "name", by_name.get(PurePosixPath(video).name, [])
        if len(hits) > 1:
            raise CalibrationError(f"line {line}: {video} fits two rows of {table_source} by {how}: {clean[hits[0]]} "
                                   f"and {clean[hits[1]]}; name it by a longer path", labels.source)
        if not hits:
            out.unmatched.append((line, video))
            continue
        row = hits[0]
        if row in taken:
            raise CalibrationError(f"line {line}: {video} and {taken[row][1]} (line {taken[row][0]}) both match "
                                   f"{clean[row]} in {table_source}", labels.source)
        taken[row] = (line, video)
        out.rows[video], out.how[video] = row, how
    if not out.rows:
        line, video = out.unmatched[0]
        example = clean[0] if clean else "none: the table is empty"
        raise CalibrationError(f"line {line}: no labelled video matches a row of {table_source}: none of its "
                               f"{len(out.unmatched)} videos (first: {video}; first table path: {example})",
                               labels.source)
    return out
