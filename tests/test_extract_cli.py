"""``tqscore extract`` end to end on the shared clips plus bad files, then resumed runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tqscore.testing import media_variants
import numpy as np
import pytest
from conftest import ALL_CLIPS, FRONTAL_CLIPS, GENERATED_CLIPS, REAL_CLIPS

from tqscore.cli import main
from tqscore.features import frontend as frontend_module
from tqscore.features.manifest import MANIFEST_NAME, ok_records
from tqscore.features.record import load_record, load_records
from tqscore.layout import FACE_MASK, FRAME_MASK, LAYOUT_VERSION, STREAM_NAMES, stream_shape
from tqscore.signals import SIGNAL_NAMES

BAD = ("bad/zero.mp4", "bad/notes.mp4", "bad/truncated.mp4")
NO_AUDIO = "generated/no_audio/sadtalker_camera_radio31.mp4"  # same name as a clip one folder up
# The no-audio copy is the one clip no other test decodes: a 2-s cut of it (50 frames) serves.
NO_AUDIO_SECONDS = 2.0


@pytest.fixture(scope="module", autouse=True)
def shared_frontends(frontend_of):
    """extract's front end goes through the session's ``frontend_of``: the passes it makes over the
    shared clips serve the later test files that read the same clips, and the signals hook's runs
    reuse them. Records are what extract makes of ``run_frontend``'s result either way."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frontend_module, "run_frontend", frontend_of)
        yield


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_resnet_dir, tiny_hubert_dir):
    root = tmp_path_factory.mktemp("extract")
    videos = root / "videos"
    for sub, clips in (("real", REAL_CLIPS), ("generated", GENERATED_CLIPS)):
        (videos / sub).mkdir(parents=True)
        for clip in clips:
            (videos / sub / clip.name).symlink_to(clip)
    (videos / "bad").mkdir()
    media_variants.zero_byte(videos / BAD[0])
    media_variants.text_as_video(videos / BAD[1])
    media_variants.truncate(REAL_CLIPS[0], videos / BAD[2])
    (videos / NO_AUDIO).parent.mkdir()
    media_variants.reencode(videos / "generated" / Path(NO_AUDIO).name, videos / NO_AUDIO,
                            seconds=NO_AUDIO_SECONDS, audio=False)
    (videos / "readme.txt").write_text("not a video extension: ignored")
    args = ["extract", str(videos), "--out", str(root / "features"), "--no-progress",
            "--resnet", str(tiny_resnet_dir), "--hubert", str(tiny_hubert_dir)]
    return videos, root / "features", args


def manifest_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def good_files(videos: Path) -> list[str]:
    return sorted(p.relative_to(videos).as_posix() for p in videos.rglob("*.mp4") if not p.relative_to(videos).as_posix().startswith("bad/"))


@pytest.fixture(scope="module")
def first_run(folders):
    videos, out, args = folders
    return main(args), manifest_lines(out)


def test_one_manifest_entry_per_file_ok_or_one_named_error(folders, first_run):
    videos, out, _ = folders
    rc, lines = first_run
    assert rc == 0
    by_path = {line["path"]: line for line in lines}
    assert len(lines) == len(by_path) == len(good_files(videos)) + len(BAD)
    for rel in good_files(videos):
        assert by_path[rel]["status"] == "ok", by_path[rel]["error"]
        assert by_path[rel]["error"] is None and (out / by_path[rel]["record"]).is_file()
    for rel in BAD:
        entry = by_path[rel]
        assert entry["status"] == "error" and entry["record"] is None
        assert str(videos / rel) in entry["error"]


@pytest.mark.parametrize("clip", ALL_CLIPS, ids=lambda p: p.name)
def test_every_shared_clip_has_sane_landmarks_and_aus(folders, first_run, clip):
    _, out, _ = folders
    record = load_record(out / "records" / clip.parent.name / f"{clip.name}.safetensors")
    frames = record.arrays[FRAME_MASK].astype(bool)
    faces = record.arrays[FACE_MASK].astype(bool)
    assert frames.any() and not faces[~frames].any()
    if clip in FRONTAL_CLIPS:
        assert faces[frames].mean() >= 0.95
    landmarks = record.arrays["landmarks"].reshape(len(frames), -1, 3)
    xy = landmarks[faces][..., :2]
    assert xy.size and xy.min() >= 0.0 and xy.max() <= 1.0  # inside the frame
    assert not landmarks[~faces].any()  # zeros where no face (and on padding)
    aus = record.arrays["aus"]
    assert np.isfinite(aus).all() and aus.min() >= 0.0 and aus.max() <= 1.0
    np.testing.assert_allclose(aus[faces].max(axis=1), 1.0, atol=1e-5)
    assert not aus[~faces].any()


def test_records_hold_the_layout_and_metadata(folders, first_run, tiny_resnet_dir):
    videos, out, _ = folders
    paths = ok_records(out)
    assert len(paths) == len(good_files(videos))
    assert len({p.name for p in paths}) < len(paths)  # two same-named clips, two records
    batch = load_records(paths)
    for name in STREAM_NAMES:
        assert batch.streams[name].shape == (len(paths), *stream_shape(name))
        assert np.isfinite(batch.streams[name]).all()
    assert (batch.masks[FACE_MASK] <= batch.masks[FRAME_MASK]).all()
    meta = load_record(out / "records" / "real" / "WDA_KatieHill_000.mp4.safetensors").meta
    assert meta["layout_version"] == LAYOUT_VERSION
    assert meta["backbones"]["visual"] == str(tiny_resnet_dir.resolve())
    assert meta["clip"]["width"] == 512 and meta["clip"]["has_audio"] is True
    assert meta["source"]["size_bytes"] == (videos / "real" / "WDA_KatieHill_000.mp4").stat().st_size
    assert meta["timings_ms"]["resnet"] > 0
    assert set(meta["signals"]) == set(SIGNAL_NAMES)
    assert meta["signals"]["dnsmos_ovrl"] > 1 and meta["signals"]["face_present_ratio"] >= 0.95
    assert meta["signals"]["syncnet_lse_c"] is None  # no SyncNet weights configured
    silent = load_record(out / "records" / f"{NO_AUDIO}.safetensors")
    assert silent.meta["clip"]["has_audio"] is False
    assert silent.meta["signals"]["dnsmos_ovrl"] is None and silent.meta["signals"]["sync_offset_frames"] is None


def test_second_run_does_no_work(folders, first_run, capsys):
    videos, out, args = folders
    before = {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.safetensors")}
    assert main(args) == 0
    assert "extract: 0 processed" in capsys.readouterr().out
    assert len(manifest_lines(out)) == len(first_run[1])
    assert {p: p.stat().st_mtime_ns for p in (out / "records").rglob("*.safetensors")} == before


def test_killed_run_and_changed_file_are_picked_up(folders, first_run, capsys):
    videos, out, args = folders
    lines = (out / MANIFEST_NAME).read_text().splitlines(keepends=True)
    dropped = [line for line in lines if json.loads(line)["path"] == "generated/sadtalker_art2_radio31.mp4"]
    # As a kill leaves it: the last finished file's line missing and half a line at the end.
    kept = [line for line in lines if line not in dropped]
    (out / MANIFEST_NAME).write_text("".join(kept) + '{"path": "generated/sadtal')
    # The truncated download, now complete: a new size and mtime where it lies (a link to a shared
    # clip, so the session's front end of that clip serves it).
    (videos / BAD[2]).unlink()
    (videos / BAD[2]).symlink_to(GENERATED_CLIPS[0])
    assert main(args) == 0
    assert "extract: 2 processed (2 ok, 0 no_face, 0 error)" in capsys.readouterr().out
    latest = {}
    for line in (out / MANIFEST_NAME).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        latest[entry["path"]] = entry
    assert latest[BAD[2]]["status"] == "ok" and latest["generated/sadtalker_art2_radio31.mp4"]["status"] == "ok"
    assert latest[BAD[0]]["status"] == "error"  # unchanged bad files are not re-tried


def test_missing_folder_and_unreachable_hub_are_clear_errors(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    assert main(["extract", str(tmp_path / "nowhere"), "--out", str(tmp_path / "f")]) == 2
    assert "nowhere" in capsys.readouterr().err
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "v").mkdir()
    os.symlink(GENERATED_CLIPS[0], tmp_path / "v" / "a.mp4")
    assert main(["extract", str(tmp_path / "v"), "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "microsoft/resnet-101" in err and "--resnet" in err


def test_signals_hook_fills_the_record_and_its_failure_is_one_error(tmp_path, tiny_resnet_dir, tiny_hubert_dir):
    from tqscore.features.extract import ExtractOptions, extract_folder

    (tmp_path / "v").mkdir()
    os.symlink(GENERATED_CLIPS[1], tmp_path / "v" / "a.mp4")
    options = ExtractOptions(resnet=str(tiny_resnet_dir), hubert=str(tiny_hubert_dir), progress=False)

    def face_share(frontend):
        return {"face_share": float(frontend.face_found.mean())}

    summary = extract_folder(tmp_path / "v", tmp_path / "f", options, signals=face_share)
    assert summary.counts["ok"] == 1
    assert load_record(tmp_path / "f" / "records" / "a.mp4.safetensors").signals == {"face_share": 1.0}

    def broken(frontend):
        raise RuntimeError("signal model exploded")

    summary = extract_folder(tmp_path / "v", tmp_path / "g", options, signals=broken)
    assert summary.counts["error"] == 1
    (entry,) = manifest_lines(tmp_path / "g")
    assert "a.mp4" in entry["error"] and "signal model exploded" in entry["error"]
