"""Each degradation of ``tqscore/testing/degradations.py`` does what it says, measurably, on a real clip.

The measurements are independent of the degradation code where they can be: the decoded output
file is compared with the decoded clean copy (Laplacian variance, PSNR, noise level, identical
frames, Face Mesh re-run on the output, SNR and cross-correlation on tqscore's own 16-kHz audio).
2-s cuts of one frontal real clip keep the whole file near 20 s.
"""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from conftest import MEDIA
from tqscore.testing.degradations import (
    DEGRADATIONS,
    FOREIGN_AUDIO,
    RIGID,
    _faces,
    _open_source,
    active_speech_power,
    audio_noise,
    audio_shift,
    clean,
    compression,
    face_blur,
    foreign_audio,
    freeze,
    held_mask,
    mouth_blur,
    read_wav,
    still_head,
    still_mouth,
    visual_noise,
)
from tqscore.testing.media_variants import numbered_clip

from tqscore.features.landmarks import face_mesh
from tqscore.layout import SAMPLE_RATE
from tqscore.media.audio import load_audio
from tqscore.signals.face import FROZEN_MAD
from tqscore.signals.geometry import mouth_features

CLIP = MEDIA / "real" / "WDA_AlexandriaOcasioCortez_000.mp4"
SECONDS = 2.0
EYES = (33, 133, 362, 263, 159, 145, 386, 374)  # eye corners and lids


def frames_of(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def video_bytes(path) -> int:
    with av.open(str(path)) as c:
        return sum(p.size for p in c.demux(c.streams.video[0]))


def box(points: np.ndarray, margin: float = 0.0) -> tuple[slice, slice]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = margin * (hi - lo)
    (x0, y0), (x1, y1) = np.floor(lo - pad).astype(int), np.ceil(hi + pad).astype(int)
    return slice(max(y0, 0), y1), slice(max(x0, 0), x1)


def laplacian_var(frames: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(np.mean([cv2.Laplacian(cv2.cvtColor(f[region], cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
                          for f in frames]))


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("degradations")


@pytest.fixture(scope="module")
def reference(out):
    """The clean copy, its frames and audio, and Face Mesh points of its first frame."""
    path = clean(CLIP, out, seconds=SECONDS)
    faces = _faces(_open_source(path, None, None))
    return {"path": path, "frames": frames_of(path), "audio": load_audio(path)[0], "points": faces.points[0]}


def test_table_has_three_severities_each():
    assert len(DEGRADATIONS) == 10
    for d in DEGRADATIONS.values():
        assert len(d.severities) >= 3 and len(set(d.severities)) == len(d.severities), d.name


@pytest.mark.parametrize("make,region", [(face_blur, "face"), (mouth_blur, "mouth")])
def test_blur_softens_its_region_only(out, reference, make, region):
    pts = reference["points"]
    inside = box(pts) if region == "face" else box(pts[[61, 291, 0, 17]])
    untouched = (slice(0, 40), slice(0, 40)) if region == "face" else box(pts[list(EYES)], 0.2)
    clean_in, clean_out = laplacian_var(reference["frames"], inside), laplacian_var(reference["frames"], untouched)
    values = []
    for sigma in DEGRADATIONS[make.__name__].severities:
        frames = frames_of(make(CLIP, out, sigma, seconds=SECONDS))
        values.append(laplacian_var(frames, inside))
        assert laplacian_var(frames, untouched) == pytest.approx(clean_out, rel=0.05), (region, sigma)
    assert clean_in > values[0] > values[1] > values[2]
    assert values[2] < 0.3 * clean_in


def test_compression_lowers_bitrate_and_fidelity(out, reference):
    sizes, psnrs = [video_bytes(reference["path"])], []
    for crf in DEGRADATIONS["compression"].severities:
        path = compression(CLIP, out, crf, seconds=SECONDS)
        sizes.append(video_bytes(path))
        psnrs.append(cv2.PSNR(frames_of(path), reference["frames"]))
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0] / 20
    assert psnrs == sorted(psnrs, reverse=True) and psnrs[-1] < 30


def test_visual_noise_has_the_asked_sigma(out, reference):
    for sigma in DEGRADATIONS["visual_noise"].severities:
        frames = frames_of(visual_noise(CLIP, out, sigma, seconds=0.4)).astype(np.float64)  # noisy frames code slowly
        measured = (frames - reference["frames"][: len(frames)]).std()
        # x264 at CRF 12 smooths a little of the noise, and clipping at 0/255 removes some.
        assert 0.75 * sigma < measured < 1.1 * sigma, (sigma, measured)


def test_freeze_holds_the_asked_share_of_frames(out, reference):
    def identical_pairs(frames):
        # The same picture as tqscore defines it (FROZEN_MAD on 64x64 grey): x264 re-codes a held
        # frame with up to ~0.8 grey levels of per-pixel coding noise, which the shrinking averages out.
        grey = np.stack([cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (64, 64), interpolation=cv2.INTER_AREA)
                         for f in frames]).astype(np.int16)
        return np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2)) < FROZEN_MAD

    assert identical_pairs(reference["frames"]).sum() == 0
    for share in DEGRADATIONS["freeze"].severities:
        frames = frames_of(freeze(CLIP, out, share, seconds=SECONDS))
        held = held_mask(len(frames), share)
        assert np.array_equal(identical_pairs(frames), held[1:])
        assert held.mean() == pytest.approx(share, abs=0.05)


def points_over_time(path) -> np.ndarray:
    frames = frames_of(path)
    landmarks, found = face_mesh(frames)
    assert found.all()
    return landmarks, frames.shape[2] / frames.shape[1]


def test_still_head_stops_the_head_but_not_the_mouth(out, reference):
    def motion(path):
        landmarks, aspect = points_over_time(path)
        h, w = reference["frames"].shape[1:3]
        rigid = landmarks[:, list(RIGID), :2] * (w, h)
        step = np.linalg.norm(np.diff(rigid, axis=0), axis=2).mean(axis=1)  # px per frame
        opening = mouth_features(landmarks, np.ones(len(landmarks), bool), aspect)[:, 1]
        return step, opening

    clean_step, clean_opening = motion(reference["path"])
    for share in DEGRADATIONS["still_head"].severities:
        step, opening = motion(still_head(CLIP, out, share, seconds=SECONDS))
        still = round(share * len(opening))
        assert step[: still - 1].mean() < 0.3 * clean_step[: still - 1].mean(), share
        assert opening[:still].std() > 0.8 * clean_opening[:still].std(), share  # the mouth still talks
        if still < len(opening):
            assert step[still:].mean() == pytest.approx(clean_step[still:].mean(), rel=0.2)


def test_still_mouth_stops_the_mouth(out, reference):
    def opening_spread(path):
        landmarks, aspect = points_over_time(path)
        return float(np.std(mouth_features(landmarks, np.ones(len(landmarks), bool), aspect)[:, 1]))

    values = [opening_spread(reference["path"])]
    values += [opening_spread(still_mouth(CLIP, out, a, seconds=SECONDS)) for a in DEGRADATIONS["still_mouth"].severities]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 0.3 * values[0]


@pytest.mark.parametrize("kind", ["white", "babble"])
def test_audio_noise_has_the_asked_snr(out, reference, kind):
    own = reference["audio"]
    speech = active_speech_power(own, SAMPLE_RATE)
    for snr in DEGRADATIONS["audio_noise"].severities:
        path = audio_noise(CLIP, out, snr, kind=kind, seconds=SECONDS)
        noisy = load_audio(path)[0]
        n = min(len(noisy), len(own))
        scale = float(np.dot(noisy[:n], own[:n]) / np.dot(own[:n], own[:n]))  # anti-clipping gain, if any
        noise = noisy[:n] - scale * own[:n]
        measured = 10 * np.log10(scale**2 * speech / np.mean(noise**2))
        assert measured == pytest.approx(snr, abs=0.5), (kind, snr, measured)
        np.testing.assert_array_equal(frames_of(path), reference["frames"])  # the video is untouched


@pytest.mark.parametrize("frames", [3, 6, 10, -3])
def test_audio_shift_moves_the_audio_by_k_frames(out, reference, frames):
    own = reference["audio"]
    shifted = load_audio(audio_shift(CLIP, out, frames, seconds=SECONDS))[0]
    lags = np.arange(-12 * 640, 12 * 640 + 1)
    n = len(own)
    corr = [np.dot(own[max(0, -lag) : n - max(0, lag)], shifted[max(0, lag) : n - max(0, -lag)]) for lag in lags]
    assert lags[int(np.argmax(corr))] == pytest.approx(frames * 640, abs=1)  # 40 ms = 640 samples at 16 kHz
    assert len(shifted) == pytest.approx(n, abs=2)


def test_foreign_audio_replaces_the_asked_share(out, reference):
    own = reference["audio"]
    other = read_wav(FOREIGN_AUDIO)
    for share in DEGRADATIONS["foreign_audio"].severities:
        mixed = load_audio(foreign_audio(CLIP, out, share, seconds=SECONDS))[0]
        cut = int(round(share * len(own)))
        replaced, kept = slice(400, cut - 400), slice(cut + 400, len(own))
        assert np.corrcoef(mixed[replaced], other[replaced])[0, 1] > 0.99
        if kept.stop > kept.start:
            np.testing.assert_allclose(mixed[kept], own[kept], atol=2e-3)
        gain = float(np.dot(mixed[replaced], other[replaced]) / np.dot(other[replaced], other[replaced]))
        level = 10 * np.log10(gain**2 * active_speech_power(other, SAMPLE_RATE) / active_speech_power(own, SAMPLE_RATE))
        assert level == pytest.approx(0.0, abs=0.5)  # at the clip's own active speech level


def test_video_degradations_leave_the_audio_alone(out, reference):
    path = face_blur(CLIP, out, 2.0, seconds=SECONDS)
    np.testing.assert_array_equal(load_audio(path)[0], reference["audio"])


def test_bad_inputs_name_the_file(out):
    silent = numbered_clip(out / "numbers.mp4", 10)
    with pytest.raises(ValueError, match="numbers.mp4: no audio"):
        audio_shift(silent, out, 3)
    with pytest.raises(ValueError, match="numbers.mp4: Face Mesh found no face"):
        face_blur(silent, out, 2.0)
    mute = MEDIA.parent / "corpus" / "real" / "real__LIA__driving3.mov"  # its audio track is digital silence
    with pytest.raises(ValueError, match="driving3.mov: the audio is silent"):
        audio_noise(mute, out, 10.0, seconds=0.5)
