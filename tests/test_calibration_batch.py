"""`tqscore batch --scorer scorer.yaml`: rows scored by a calibration, and a resume that re-scores
rows made by another scorer, or graded against another real-footage reference, from their stored
signals, decoding nothing.

The stored table is written by the test with the keys a finished run leaves (path, size, mtime,
signals_id), over placeholder files: a resume that tried to analyse one would fail on it.
"""

from datetime import datetime, timezone

import polars as pl
import pytest

from test_calibration_fit import signal_rows
from tqscore.calibration.evidence import grade_names
from tqscore.calibration.scorer import FORMAT, CalibratedScorer, Calibration, save_calibration
from tqscore.cli import main
from tqscore.errors import TqscoreError
from tqscore.layout import LABELS
from tqscore.media.discovery import path_bytes
from tqscore.model.reference import ReferenceScorer
from tqscore.runtime.schema import output_schema
from tqscore.signals import signal_definitions, signals_id


def calibration_file(path):
    names = grade_names("lip_sync")
    weights = {n: (0.7 if n == "onsets" else 0.3 / (len(names) - 1)) for n in names}
    draft = Calibration(format=FORMAT, model_id="", base_model=ReferenceScorer().model_id, data={"labels": "by hand"},
                        dimensions={"lip_sync": {"status": "calibrated", "why": "by hand", "labels": 0,
                                                 "weights": weights, "mapping": {"kind": "identity"}}})
    return save_calibration(draft.model_copy(update={"model_id": draft.digest_id()}), path)


def stored_run(folder, out, n=4):
    """Placeholder files and the table a finished signals-only run over them would have left."""
    folder.mkdir()
    rows = signal_rows([f"clip{i}.mp4" for i in range(n)], seed=11)
    scorer, table = ReferenceScorer(), []
    for row in rows:
        f = folder / row["path"]
        f.write_bytes(b"not a video: a resume must not open it")
        st = f.stat()
        result = scorer.score(row)
        table.append({**row, **result.values, "path_bytes": path_bytes(row["path"]), "size_bytes": st.st_size,
                      "mtime": datetime.fromtimestamp(st.st_mtime_ns // 1000 / 1e6, timezone.utc),
                      "model_id": scorer.model_id, "signals_id": signals_id(), "score_causes": result.causes,
                      "reasons": [], "verdict": "pass"})
    schema = output_schema()
    frame = pl.DataFrame([{k: r.get(k) for k in schema} for r in table], schema=schema)
    frame.write_parquet(out)
    return rows


def test_batch_scorer_rescores_stored_rows_from_their_signals(tmp_path, capsys):
    out, yaml_path = tmp_path / "scores.parquet", calibration_file(tmp_path / "scorer.yaml")
    rows = stored_run(tmp_path / "videos", out)
    calibrated = CalibratedScorer.from_file(yaml_path)
    assert main(["batch", str(tmp_path / "videos"), "--out", str(out), "--scorer", str(yaml_path),
                 "--no-progress", "--workers", "1"]) == 0
    assert "already done 4" in capsys.readouterr().out
    table = pl.read_parquet(out).sort("path")
    assert table["model_id"].to_list() == [calibrated.model_id] * 4
    for row, stored in zip(rows, table.iter_rows(named=True)):
        expected = calibrated.score(row).values
        for label in LABELS:
            assert stored[label] == pytest.approx(expected[label], abs=1e-4)
    assert table["lip_sync"].to_list() != pytest.approx([ReferenceScorer().score(r).values["lip_sync"] for r in rows])

    assert main(["batch", str(tmp_path / "videos"), "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    back = pl.read_parquet(out).sort("path")
    assert back["model_id"].to_list() == [ReferenceScorer().model_id] * 4
    assert back["lip_sync"].to_list() == pytest.approx([ReferenceScorer().score(r).values["lip_sync"] for r in rows],
                                                       abs=1e-4)


def test_scorer_refuses_engines_and_a_broken_file(tmp_path, capsys):
    (tmp_path / "videos").mkdir()
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: tqscore-calibration-1\nmodel_id: x\nbase_model: reference-4\ndata: {}\n"
                   "dimensions:\n  lip_sync: {status: calibrated, why: x, labels: 1, weights: {mouth_speech: -1}}\n")
    assert main(["batch", str(tmp_path / "videos"), "--out", str(tmp_path / "o.parquet"), "--scorer", str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "videos"), "--out", str(tmp_path / "o.parquet"), "--scorer", str(bad),
                 "--engines", str(tmp_path)]) == 2
    assert "--scorer re-weights the reference scorer" in capsys.readouterr().err


def test_a_calibration_of_another_reference_scorer_is_refused(tmp_path):
    path = calibration_file(tmp_path / "s.yaml")
    path.write_text(path.read_text().replace(f"base_model: {ReferenceScorer().model_id}", "base_model: reference-0"))
    with pytest.raises(TqscoreError, match=r"s.yaml: fitted to the reference scorer reference-0, but this tqscore's is"):
        CalibratedScorer.from_file(path)


def test_rows_graded_against_another_reference_are_scored_again_not_analysed(tmp_path, capsys):
    """Same scorer id, same signal definitions, other bands (an upgrade that redrew
    reference.json): the stored signals are graded again; the placeholder files are never opened."""
    out = tmp_path / "scores.parquet"
    rows = stored_run(tmp_path / "videos", out)
    other_reference = f"{signal_definitions(signals_id())}-ref000000000000"
    stale = {label: pl.lit(1.0, pl.Float32) for label in LABELS}
    pl.read_parquet(out).with_columns(pl.lit(other_reference).alias("signals_id"), **stale).write_parquet(out)
    assert main(["batch", str(tmp_path / "videos"), "--out", str(out), "--no-progress", "--workers", "1"]) == 0
    assert "already done 4" in capsys.readouterr().out
    back = pl.read_parquet(out).sort("path")
    assert back["signals_id"].to_list() == [signals_id()] * 4
    assert back["model_id"].to_list() == [ReferenceScorer().model_id] * 4
    for row, stored in zip(rows, back.iter_rows(named=True)):
        expected = ReferenceScorer().score(row).values
        assert [stored[label] for label in LABELS] == pytest.approx([expected[label] for label in LABELS], abs=1e-4)
