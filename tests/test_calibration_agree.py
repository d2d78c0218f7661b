"""`tqscore agree` and the label formats: the public files as they are, matching, bad input.

The scores tables here are written by the test (a path column and the five scores): agree reads
nothing else, and the labels are the real files from ../shared.
"""

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tqscore.calibration.agree import agree, fit_mapping, logistic4
from tqscore.calibration.labels import CalibrationError, load_labels
from tqscore.cli import main
from tqscore.layout import LABELS
from tqscore.training.pairs import pair_agreement

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ADTHQA = SHARED / "validation" / "adthqa-dev"
PAIRS = ADTHQA / "pairs.csv"
NTIRE_VAL = SHARED / "labels" / "thqa-ntire" / "thqa_ntire_val.csv"


def scores_table(path: Path, paths: list[str], seed: int = 0, **fixed) -> Path:
    rng = np.random.default_rng(seed)
    data = {"path": paths, "model_id": ["reference-1"] * len(paths)}
    for label in LABELS:
        data[label] = fixed.get(label, rng.uniform(1, 5, len(paths)).round(3).tolist())
    pl.DataFrame(data).with_columns(pl.col(list(LABELS)).cast(pl.Float32)).write_parquet(path)
    return path


def write_csv(path: Path, rows: list[list]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def adthqa_clips() -> list[str]:
    return sorted(str(p.relative_to(ADTHQA)) for p in ADTHQA.glob("*/*.mp4") if p.parent.name != "real")


def test_ntire_file_reads_as_published():
    labels = load_labels(NTIRE_VAL)
    assert (labels.format, labels.kind, labels.scale) == ("THQA-NTIRE", "opinion", (0.0, 5.0))
    assert len(labels.opinions) == 1714 and labels.dimensions() == ["overall"]
    first = labels.opinions[0]
    assert (first.line, first.video, first.values) == (2, "14_dalle3_common_voice_en_35729059_audio2head.mp4", {"overall": 3.1})
    assert labels.opinions[1].values["overall"] == 0.8  # below 1: the 0-5 scale is declared, not assumed


def test_ntire_scores_on_a_1_to_5_scale_are_refused_with_the_line():
    with pytest.raises(CalibrationError, match=r"thqa_ntire_val.csv: line 3: overall 0.8 is outside the declared scale 1-5"):
        load_labels(NTIRE_VAL, scale=(1.0, 5.0))


def test_ntire_agree_reports_matches_and_lists_every_unmatched(tmp_path):
    labels = load_labels(NTIRE_VAL)
    chosen = labels.opinions[:40]
    table = scores_table(tmp_path / "s.parquet", [f"ntire/val/{o.video}" for o in chosen],
                         overall=[1 + 0.8 * o.values["overall"] for o in chosen])
    assert main(["agree", str(table), "--labels", str(NTIRE_VAL), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    m = report["matching"]
    assert m["matched_by_path"] == 0 and len(m["matched_by_name"]) == 40
    assert len(m["unmatched"]) == 1714 - 40 and m["unmatched"][0]["line"] == 42
    overall = report["dimensions"]["overall"]
    assert overall["n"] == 40 and overall["srcc"]["value"] == pytest.approx(1.0)
    assert overall["plcc"]["value"] == pytest.approx(1.0, abs=1e-6) and overall["rmse"]["value"] < 1e-3
    assert overall["missing"] == 1674 and "and 1654 more" in (tmp_path / "r.md").read_text()


def test_label_map_renames_columns_and_targets(tmp_path):
    f = write_csv(tmp_path / "l.csv", [["clip", "LS", "Q"], ["a.mp4", "4", "2"], ["b.mp4", "", "3"]])
    labels = load_labels(f, "clip=path,LS=lip_sync,Q=overall")
    assert [o.values for o in labels.opinions] == [{"lip_sync": 4.0, "overall": 2.0}, {"overall": 3.0}]
    with pytest.raises(CalibrationError, match="l.csv: --label-map names columns"):
        load_labels(f, "clip=path,Nope=overall")


def test_agree_on_the_study_pairs_equals_pair_agreement(tmp_path):
    clips = adthqa_clips()
    assert len(clips) == 20
    table = scores_table(tmp_path / "s.parquet", [f"validation/adthqa-dev/{c}" for c in clips], seed=3)
    assert main(["agree", str(table), "--labels", str(PAIRS), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["matching"] == {"matched_by_path": 20, "matched_by_name": [], "unmatched": []}
    scores = pl.read_parquet(table)
    score = {(p.removeprefix("validation/adthqa-dev/"), d): s for d in LABELS
             for p, s in zip(scores["path"], scores[d])}
    pairs = list(csv.DictReader(PAIRS.open()))
    for question, ours in (("lip_sync", "lip_sync"), ("head_motion", "expression"), ("visual_quality", "overall")):
        rows = [r for r in pairs if r["dimension"] == question]
        direct = pair_agreement([score[r["video_a"], ours] for r in rows], [score[r["video_b"], ours] for r in rows],
                                [int(r["votes_a"]) for r in rows], [int(r["votes_b"]) for r in rows])
        got = report["dimensions"][question]
        assert got["score"] == ours and got["n"] == direct.n == 30
        for m in ("weighted", "majority", "ceiling"):
            assert got[m]["value"] == pytest.approx(getattr(direct, m))
            low, high = got[m]["ci95"]
            assert low <= got[m]["value"] <= high and high - low > 0
    assert report["dimensions"]["lip_sync"]["ceiling"]["value"] == pytest.approx(0.793, abs=1e-3)  # SOURCES.md


def test_ambiguous_file_name_is_an_error_naming_both(tmp_path):
    table = scores_table(tmp_path / "s.parquet", ["wav2lip/Obama_Obama.mp4", "adnerf/Obama_Obama.mp4"])
    f = write_csv(tmp_path / "l.csv", [["path", "overall"], ["Obama_Obama.mp4", "3"]])
    with pytest.raises(CalibrationError, match=r"l.csv: line 2: Obama_Obama.mp4 fits two rows .* by name: "
                                               r"wav2lip/Obama_Obama.mp4 and adnerf/Obama_Obama.mp4"):
        agree(table, load_labels(f))


@pytest.mark.parametrize("rows, message", [
    ([["path", "overall"], ["a.mp4", "3"], ["b.mp4", "4"], ["./a.mp4", "2"]], r"line 4: a.mp4 is listed again \(first on line 2\)"),
    ([["path", "overall"], ["a.mp4", "5.5"]], r"line 2: overall 5.5 is outside the declared scale 1-5"),
    ([["path", "overall"], ["a.mp4", "good"]], r"line 2: overall 'good' is not a number"),
    ([["dimension", "video_a", "video_b", "votes_a", "votes_b"], ["lip_sync", "x/a.mp4", "x/a.mp4", "3", "2"]],
     r"line 2: the pair names x/a.mp4 twice"),
    ([["dimension", "video_a", "video_b", "winner"], ["overall", "a.mp4", "b.mp4", "a"], ["overall", "b.mp4", "a.mp4", "b"]],
     r"line 3: the overall pair b.mp4 / a.mp4 is listed again \(first on line 2\)"),
    ([["dimension", "video_a", "video_b", "votes_a", "votes_b"], ["mood", "a.mp4", "b.mp4", "3", "2"]],
     r"line 2: dimension 'mood' is not one of"),
])
def test_bad_label_files_name_file_and_line(tmp_path, rows, message):
    f = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(CalibrationError, match=r"bad.csv: " + message):
        load_labels(f)


def test_no_matching_video_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    table = scores_table(tmp_path / "s.parquet", ["x/one.mp4"])
    f = write_csv(tmp_path / "l.csv", [["path", "overall"], ["", ""], ["two.mp4", "3"]])
    assert main(["agree", str(table), "--labels", str(f), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "l.csv: line 3: no labelled video matches a row of" in err


def test_winner_column_and_tie(tmp_path):
    rows = [["dimension", "video_a", "video_b", "winner"], ["lip_sync", "a.mp4", "b.mp4", "b.mp4"],
            ["lip_sync", "a.mp4", "c.mp4", "tie"]]
    labels = load_labels(write_csv(tmp_path / "w.csv", rows))
    assert [(p.votes_a, p.votes_b) for p in labels.pairs] == [(0.0, 1.0), (0.5, 0.5)]


def test_logistic_mapping_and_its_fallback():
    rng = np.random.default_rng(0)
    p = rng.uniform(1, 5, 200)
    y = logistic4(p, 0.5, 4.0, 3.0, 0.4) + rng.normal(0, 0.05, p.size)
    mapped, how = fit_mapping(p, y)
    assert how["mapping"] == "logistic4" and how["params"]["mid"] == pytest.approx(3.0, abs=0.05)
    assert np.corrcoef(mapped, y)[0, 1] > np.corrcoef(p, y)[0, 1]
    mapped, how = fit_mapping(p[:3], y[:3])
    assert how["mapping"] == "linear" and "not used" in how["note"]
    _, how = fit_mapping(p, -p)  # a measure ranking the wrong way round gains nothing from the mapping
    assert how["mapping"] == "linear" or how["params"]["span"] == pytest.approx(0.0, abs=1e-6)


def test_a_label_map_entry_overrides_the_study_mapping(tmp_path):
    labels = load_labels(PAIRS, "visual_quality=lip_sync")
    asked = {(p.question, p.dimension) for p in labels.pairs}
    assert asked == {("lip_sync", "lip_sync"), ("head_motion", "expression"), ("visual_quality", "lip_sync")}
    assert labels.dimensions() == ["lip_sync", "expression"]
