"""Silero VAD against the energy detector it replaced, on speech, music, noise and silence.

Speech: the two shared speech files and the audio of every shared clip (../shared/media and
../shared/corpus), clean and mixed with white noise and babble at 10 dB SNR. Music, noise and
silence are synthesised at test time (tqscore.testing.sounds): chords with a melody, a sustained organ
chord, white / pink / brown noise, six-voice babble of reversed speech, digital silence and a
-70 dBFS hiss. Printed per sound: the share of 25-fps frames each detector calls speech (the
definition of ``speech_ratio``), and the VAD's cost per second of audio.

    python benchmarks/vad_compare.py            # every sound
    python benchmarks/vad_compare.py --smoke    # one speech file, one music, one noise
"""

from __future__ import annotations

import time

import numpy as np

import common

from tqscore.testing import sounds

FPS = 25.0


def shares(vad, audio: np.ndarray) -> tuple[float, float, float]:
    """(VAD speech share, energy-detector speech share, VAD seconds) over 25-fps frames."""
    from tqscore.signals.dsp import speech_frames
    from tqscore.signals.vad import frame_mask

    times = np.arange(int(len(audio) / 16000 * FPS)) / FPS
    tick = time.perf_counter()
    mask = frame_mask(vad.segments(audio), times, FPS)
    seconds = time.perf_counter() - tick
    return float(mask.mean()), float(speech_frames(audio, times, FPS).mean()), seconds


def main() -> None:
    args = common.parser(__doc__).parse_args()
    from tqscore.media import load_audio
    from tqscore.signals.vad import SileroVad

    print("machine:", common.machine())
    vad = SileroVad()
    wavs = sorted((common.MEDIA / "audio").glob("*.wav"))
    speech = {w.name: load_audio(w)[0] for w in (wavs[:1] if args.smoke else wavs)}
    clips = [] if args.smoke else common.media_clips() + sorted((common.CORPUS / "real").glob("*")) + sorted(
        (common.CORPUS / "generated").glob("*"))
    for clip in clips:
        audio, has_audio = load_audio(clip)[:2]
        if has_audio and np.any(audio):
            speech[f"{clip.parent.name}/{clip.name}"] = audio
    seconds = 8.0
    first = next(iter(speech.values()))
    cases: list[tuple[str, str, np.ndarray]] = [("speech" if name.endswith(".wav") else "clip audio", name, audio)
                                                for name, audio in speech.items()]
    cases += [("speech + white noise 10 dB", name, sounds.mix(a, sounds.white(len(a) / 16000), 10))
              for name, a in list(speech.items())[:2]]
    cases += [("speech + babble 10 dB", name, sounds.mix(a, sounds.babble(first, len(a) / 16000, seed=1), 10))
              for name, a in list(speech.items())[:2]]
    cases += [("music", "chords + melody", sounds.chords(seconds))]
    cases += [("noise", "white", sounds.white(seconds))]
    if not args.smoke:
        cases += [("music", "organ chord", sounds.organ(seconds)),
                  ("noise", "pink", sounds.coloured(seconds, 1)), ("noise", "brown", sounds.coloured(seconds, 2)),
                  ("noise", "babble (6 reversed voices)", sounds.babble(first, seconds)),
                  ("silence", "digital zero", np.zeros(int(seconds * 16000), np.float32)),
                  ("silence", "-70 dBFS hiss", sounds.at_level(np.random.default_rng(3).standard_normal(
                      int(seconds * 16000)), -70))]
    print("| kind | sound | Silero VAD speech share | energy detector speech share |")
    print("|---|---|---|---|")
    total_s = audio_s = 0.0
    for kind, name, audio in cases:
        v, e, cost = shares(vad, audio)
        total_s, audio_s = total_s + cost, audio_s + len(audio) / 16000
        print(f"| {kind} | {name} | {v:.2f} | {e:.2f} |")
    print(f"VAD cost: {1000 * total_s / audio_s:.1f} ms per second of audio; load {common.machine()['load']}")


if __name__ == "__main__":
    main()
