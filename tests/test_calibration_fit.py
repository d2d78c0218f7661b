"""`tqscore calibrate`: fitted weights, cross-validation by person, refusals, the calibration file.

The scores tables carry signal columns drawn from the real-footage reference (every grade spread
over 1-5) for the 20 real ADTH-QA clip paths; the labels follow a known rule of the evidence, so
a calibration that works must find it, and one that cannot beat the default must say so.
"""

import csv
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.optimize import approx_fprime

from tqscore.calibration.calibrate import calibrate
from tqscore.calibration.evidence import Evidence, default_weights, grade_names
from tqscore.calibration.fit import Model, Observations, loss_and_grad, predict
from tqscore.calibration.labels import load_labels
from tqscore.calibration.scorer import CalibratedScorer, load_calibration, save_calibration
from tqscore.cli import main
from tqscore.errors import TqscoreError
from tqscore.layout import LABELS
from tqscore.model.reference import ReferenceScorer
from tqscore.signals import SIGNAL_COLUMNS
from tqscore.signals.reference import reference_band
from tqscore.training.pairs import pair_agreement

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PAIRS = SHARED / "validation" / "adthqa-dev" / "pairs.csv"
PREFIX = "validation/adthqa-dev/"


def signal_rows(paths: list[str], seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for path in paths:
        # 20 s of speech: enough for the sync peak's limit (SYNC_PEAK_SCALE / sqrt(speech_s)) to
        # read most drawn confidences as an offset, so the offset grades are in the evidence
        row = {"path": path, "status": "ok", "has_audio": True, "speech_s": 20.0, "speech_ratio": 0.8,
               "face_present_ratio": float(rng.uniform(0.85, 1.0)), "frozen_frame_ratio": float(rng.uniform(0, 0.1)),
               "dnsmos_ovrl": float(rng.uniform(2, 4)), "sync_offset_frames": float(rng.integers(0, 3))}
        for col in SIGNAL_COLUMNS:
            band = reference_band(col.name)
            if col.name not in row and band is not None:
                row[col.name] = float(band.at_z(rng.normal(0, 1.5)))
        rows.append(row)
    return rows


def write_table(path: Path, rows: list[dict]) -> Path:
    scorer = ReferenceScorer()
    table = [{**row, **scorer.score(row).values} for row in rows]
    pl.DataFrame(table).with_columns(pl.col(list(LABELS)).cast(pl.Float32)).write_parquet(path)
    return path


def study_pairs(question: str) -> list[dict]:
    return [r for r in csv.DictReader(PAIRS.open()) if r["dimension"] == question]


def pairs_file(path: Path, label: str, truth: dict[str, float], pairs: list[dict]) -> Path:
    """The study's pairs of one question, with votes from ``truth`` (a value per clip): 15 raters."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["dimension", "video_a", "video_b", "votes_a", "votes_b"])
        for p in pairs:
            share = 1 / (1 + np.exp(-3 * (truth[p["video_a"]] - truth[p["video_b"]])))
            votes = int(round(15 * share))
            w.writerow([label, p["video_a"], p["video_b"], votes, 15 - votes])
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """20 clips at the study's paths with drawn signals: the table, its rows and their evidence."""
    clips = sorted({r[k] for r in study_pairs("lip_sync") for k in ("video_a", "video_b")})
    rows = signal_rows([PREFIX + c for c in clips], seed=1)
    table = write_table(tmp_path_factory.mktemp("study") / "scores.parquet", rows)
    return clips, rows, table, Evidence.collect(rows)


def grade_of(study, label: str, name: str) -> dict[str, float]:
    clips, _, _, ev = study
    return dict(zip(clips, ev.grades[label][:, grade_names(label).index(name)]))


def test_evidence_combination_is_the_reference_scorers(study):
    _, rows, _, ev = study
    scorer = ReferenceScorer()
    for label in LABELS:
        expected = np.array([np.nan if (v := scorer.score(r).values[label]) is None else v for r in rows])
        np.testing.assert_allclose(ev.score(label, default_weights()), expected, atol=1e-4)


@pytest.mark.parametrize("kind", ["pairs", "opinion"])
def test_loss_gradient_matches_finite_differences(kind):
    rng = np.random.default_rng(0)
    grades = rng.uniform(1, 5, (12, 4))
    grades[rng.random(grades.shape) < 0.2] = np.nan
    caps = np.where(rng.random((12, 1)) < 0.5, rng.uniform(2, 5, (12, 1)), np.nan)
    w0 = np.array([0.4, 0.3, 0.2, 0.1])
    if kind == "pairs":
        obs = Observations("pairs", rng.integers(0, 12, 20), rng.integers(0, 12, 20), rng.uniform(0, 1, 20),
                           rng.integers(1, 15, 20).astype(float), np.zeros(20))
        theta = np.array([0.3, 0.3, 0.2, 0.4, 1.3])
    else:
        obs = Observations("opinion", np.arange(12), None, rng.uniform(1, 5, 12), np.ones(12), np.zeros(12))
        theta = np.array([0.3, 0.3, 0.2, 0.4, 0.5, 0.9])
    numeric = approx_fprime(theta, lambda t: loss_and_grad(t, grades, caps, obs, w0, 1.0)[0], 1e-7)
    np.testing.assert_allclose(loss_and_grad(theta, grades, caps, obs, w0, 1.0)[1], numeric, atol=1e-5)


def test_calibrate_study_pairs_finds_the_rule_and_writes_a_scorer(study, tmp_path, capsys):
    clips, rows, table, ev = study
    truth = grade_of(study, "lip_sync", "onsets")  # the raters here follow onsets alone
    labels = pairs_file(tmp_path / "pairs.csv", "lip_sync", truth, study_pairs("lip_sync"))
    out = tmp_path / "scorer.yaml"
    assert main(["calibrate", str(table), "--labels", str(labels), "--out", str(out)]) == 0
    assert "| lip_sync | 30 | 5 | leave-one-group-out |" in capsys.readouterr().out

    cal = load_calibration(out)
    assert cal.model_id == cal.digest_id() and cal.model_id.startswith("calibrated-")
    assert cal.data["group_by"] == "name" and cal.data["kind"] == "pairs"
    lip = cal.dimensions["lip_sync"]
    assert lip.status == "calibrated" and lip.mapping.kind == "identity"
    assert max(lip.weights, key=lip.weights.get) == "onsets"
    cv = lip.cross_validation
    assert cv["groups"] == 5 and cv["calibrated"]["weighted"] > cv["default"]["weighted"]
    text = out.read_text()
    assert "mouth_speech:" in text and "default_weights:" in text and "why:" in text

    scorer = CalibratedScorer(cal)
    expected = predict(ev, "lip_sync", default_weights(),
                       Model(np.array([lip.weights[n] for n in grade_names("lip_sync")]), None, 0.0))
    got = np.array([scorer.score(r).values["lip_sync"] for r in rows], dtype=float)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert scorer.model_id == cal.model_id


def in_sample(cal, study, labels_path) -> float:
    """The calibration's agreement on the very pairs it was fitted to, scored as batch --scorer would."""
    clips, rows, _, _ = study
    scorer = CalibratedScorer(cal)
    score = {c: scorer.score(r).values["lip_sync"] for c, r in zip(clips, rows)}
    pairs = list(csv.DictReader(labels_path.open()))
    return pair_agreement([score[p["video_a"]] for p in pairs], [score[p["video_b"]] for p in pairs],
                          [int(p["votes_a"]) for p in pairs], [int(p["votes_b"]) for p in pairs]).weighted


def test_leave_one_person_out_is_not_the_in_sample_fit(study, tmp_path):
    """Votes that follow a rule for four people and the reverse for the fifth: fitted on all five the
    calibration looks good on them; held out, each person is predicted by the other four's fit, the
    fifth wrongly, and the reported agreement must show that."""
    truth = grade_of(study, "lip_sync", "onsets")
    flipped = {clip: (-v if clip.endswith("Obama_Obama.mp4") else v) for clip, v in truth.items()}
    path = pairs_file(tmp_path / "p.csv", "lip_sync", flipped, study_pairs("lip_sync"))
    cal = calibrate(study[2], load_labels(path))
    reported = cal.dimensions["lip_sync"].cross_validation["calibrated"]["weighted"]
    assert reported < in_sample(cal, study, path) - 0.05
    clean = calibrate(study[2], load_labels(pairs_file(tmp_path / "q.csv", "lip_sync", truth, study_pairs("lip_sync"))))
    assert reported < clean.dimensions["lip_sync"].cross_validation["calibrated"]["weighted"] - 0.1


def test_refuses_when_the_default_already_agrees_best(study, tmp_path, capsys):
    clips, _, _, ev = study
    default = dict(zip(clips, ev.score("lip_sync", default_weights())))
    labels = pairs_file(tmp_path / "pairs.csv", "lip_sync", default, study_pairs("lip_sync"))
    out = tmp_path / "scorer.yaml"
    assert main(["calibrate", str(study[2]), "--labels", str(labels), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pairs.csv: no dimension beats the default out of sample, nothing written" in err
    assert "lip_sync: not calibrated: with 30 labels" in err and not out.exists()


def test_too_few_people_is_refused_with_the_count_needed(study, tmp_path):
    truth = grade_of(study, "lip_sync", "onsets")
    two = [p for p in study_pairs("lip_sync") if p["video_a"].split("/")[1].split("_")[0] in ("GER1", "Obama")]
    cal = calibrate(study[2], load_labels(pairs_file(tmp_path / "p.csv", "lip_sync", truth, two)))
    assert cal.dimensions["lip_sync"].why == ("not calibrated: 12 labels in 2 groups by name; cross-validation needs "
                                              "labels from at least 3 groups")


def test_opinion_scores_on_0_to_5_get_a_monotone_mapping(tmp_path):
    paths = [f"gen{g}/clip{i}.mp4" for g in range(4) for i in range(12)]
    rows = signal_rows(paths, seed=5)
    table = write_table(tmp_path / "s.parquet", rows)
    ev = Evidence.collect(rows)
    blinks = ev.grades["expression"][:, grade_names("expression").index("blinks")]
    mos = np.clip(5 / (1 + np.exp(-2 * (blinks - 3))), 0, 5)  # raters on 0-5 who watch the blinks
    with (tmp_path / "mos.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["clip", "MOS"], *[[p, f"{m:.2f}"] for p, m in zip(paths, mos)]])
    out = tmp_path / "scorer.yaml"
    assert main(["calibrate", str(table), "--labels", str(tmp_path / "mos.csv"), "--label-map",
                 "clip=path,MOS=expression", "--scale", "0,5", "--out", str(out)]) == 0
    cal = load_calibration(out)
    expr = cal.dimensions["expression"]
    assert cal.data["group_by"] == "folder" and expr.cross_validation["groups"] == 4
    assert expr.status == "calibrated" and expr.mapping.kind in ("logistic4", "linear")
    assert expr.cross_validation["calibrated"]["srcc"] > expr.cross_validation["default"]["srcc"]
    values = [CalibratedScorer(cal).score(r).values["expression"] for r in rows]
    assert all(1.0 <= v <= 5.0 for v in values)
    assert np.corrcoef(values, mos)[0, 1] > 0.8


def test_hand_edited_weights_get_a_new_id(study, tmp_path, caplog):
    truth = grade_of(study, "lip_sync", "onsets")
    labels = load_labels(pairs_file(tmp_path / "p.csv", "lip_sync", truth, study_pairs("lip_sync")))
    cal = calibrate(study[2], labels)
    path = save_calibration(cal, tmp_path / "s.yaml")
    assert load_calibration(path).model_id == cal.model_id
    edited = path.read_text().replace("    onsets: ", "    onsets: 1", 1)
    path.write_text(edited)
    assert load_calibration(path).model_id != cal.model_id
    path.write_text(edited.replace("    mouth_speech: ", "    mouth_speech: -", 1))
    with pytest.raises(TqscoreError, match="weights must be finite and non-negative"):
        load_calibration(path)
    assert json.dumps(cal.data)  # plain values only
