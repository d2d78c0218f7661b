"""benchmarks/validity.py: the study's pairs, the clip kinds, NTIRE's generators and the measures."""

from __future__ import annotations

import pytest
import validity  # benchmarks/ is on pytest's pythonpath (pyproject.toml)

from tqscore.model.reference import ReferenceScorer
from tqscore.model.rules import default_rules
from tqscore.training.pairs import pair_agreement

pytestmark = pytest.mark.skipif(not validity.STUDY.exists(), reason="../shared/validation is not beside this checkout")
VIDEO_EXT = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg"}


def _clips() -> list[str]:
    return sorted(str(p.relative_to(validity.common.SHARED)) for p in validity.common.SHARED.rglob("*")
                  if p.suffix.lower() in VIDEO_EXT and "seeds" not in p.parts)


def test_the_study_pairs_and_their_ceilings_are_read_as_published():
    pairs = validity.read_pairs()
    questions = validity.by_question(pairs)
    assert len(pairs) == 90 and {len(ps) for ps in questions.values()} == {30}
    assert {p["person"] for p in pairs} == {"GER1", "HDTF2", "Japanese", "Obama", "guzhixuan"}
    constant = {"validation/adthqa-dev/" + p[side]: 1.0 for p in pairs for side in ("video_a", "video_b")}
    ceilings = {q: round(validity.agreement(constant, ps).ceiling, 3) for q, ps in questions.items()}
    assert ceilings == {"lip_sync": 0.793, "head_motion": 0.867, "visual_quality": 0.778}  # SOURCES.md
    assert validity.agreement(constant, questions["lip_sync"]).weighted == 0.5  # all ties: chance


def test_agreement_is_the_shared_pair_measure():
    """tqscore agree must reproduce these numbers: both go through training.pairs.pair_agreement."""
    pairs = validity.by_question(validity.read_pairs())["head_motion"]
    votes = {}
    for p in pairs:
        votes[p["video_a"]] = votes.get(p["video_a"], 0) + p["votes_a"]
        votes[p["video_b"]] = votes.get(p["video_b"], 0) + p["votes_b"]
    values = {"validation/adthqa-dev/" + k: float(v) for k, v in votes.items()}
    found = validity.agreement(values, pairs)
    direct = pair_agreement([votes[p["video_a"]] for p in pairs], [votes[p["video_b"]] for p in pairs],
                            [p["votes_a"] for p in pairs], [p["votes_b"] for p in pairs])
    assert found == direct and found.weighted > 0.8  # votes won overall predict each pair well


def test_every_clip_is_real_or_has_a_generator():
    clips = _clips()
    real = [c for c in clips if validity.is_real(c)]
    generators = {validity.generator(c) for c in clips if not validity.is_real(c)}
    assert len(real) == 31 and len(clips) - len(real) == 35
    assert {"wav2lip", "makeittalk", "adnerf", "dfanerf", "sadtalker", "latentsync", "dinet"} <= generators
    assert None not in generators and validity.generator("media/real/demo1_video.mp4") is None


def test_ntire_generators_are_found_under_every_spelling():
    mos = validity.ntire_mos()
    assert set(mos) == set(validity.NTIRE_NAMES)
    assert all(clips >= 700 for _, clips in mos.values())
    assert mos["sadtalker"][1] == 849  # "sadtalker" and "sad" together
    assert min(mos, key=lambda g: mos[g][0]) == "wav2lip"


def test_auc_and_rank_correlation():
    assert validity.auc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert validity.auc([1.0], [1.0]) == 0.5 and validity.auc([1.0, 3.0], [2.0]) == 0.5
    assert validity.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert validity.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_rescoring_gives_scores_evidence_and_verdicts():
    row = {"path": "media/real/x.mp4", "status": "ok", "has_audio": True, "face_present_ratio": 1.0,
           "speech_s": 6.0, "speech_ratio": 0.8, "sync_offset_frames": 1, "sync_confidence": 0.2,
           "mouth_motion_speech": 0.3, "dnsmos_ovrl": 1.5, "head_rotation_speed_dps": 12.0}
    error = {"path": "corpus/generated/x__y.mp4", "status": "error", "error": "x: truncated"}
    done = validity.rescore([row, error], ReferenceScorer(), default_rules())
    assert done[0]["lip_sync"] is not None and set(done[0]["evidence"]) == set(validity.LABELS)
    assert done[0]["verdict"] == "fail"
    assert done[0]["reasons"] == ["noisy_speech: very noisy or distorted speech (DNSMOS 1.5)"]
    assert done[1]["verdict"] == "fail" and done[1]["reasons"] == ["unreadable: x: truncated"]
