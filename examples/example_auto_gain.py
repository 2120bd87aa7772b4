"""The usage examples of source document 001: auto-gain, EQ overrides, the CNN predictor.

    python examples/example_auto_gain.py [--out DIR] [--bars N]

Makes demo stems (drums, bass, vocals, synth) in ``DIR/stems`` and runs:

1. basic auto-gain (rules) -> ``auto_mix.wav``;
2. auto-gain with manual EQ overrides (high-pass the vocals at 80 Hz, low-pass the
   drums at 8 kHz) -> ``auto_mix_eq.wav``;
3. ``use_cnn=True``: the trained CNN if ``stemforge train-gain`` made one, else the
   same rules with a note saying how to train it -> ``auto_mix_cnn.wav``;
4. the predictor on its own: ``GainPredictor().predict(stems)`` and its summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stemforge.mixing.gain import GainPredictor
from stemforge.mixing.stem_mixer import StemMixer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for the stems and mixes")
    parser.add_argument("--bars", type=int, default=8, help="length of the demo song in bars")
    args = parser.parse_args()
    out = Path(args.out)

    from quick_start_auto_gain import demo_stems  # the examples folder is on sys.path

    stems = demo_stems(out / "stems", args.bars)
    mixer = StemMixer(sample_rate=44100)

    print("--- 1. Basic auto-gain ---")
    mixed_audio = mixer.mix_stems(stems, auto_gain=True, use_cnn=False)
    mixer.save_audio(mixed_audio, out / "auto_mix.wav")

    print("\n--- 2. Auto-gain with manual EQ overrides ---")
    mixed_audio = mixer.mix_stems(
        stems,
        auto_gain=True,
        high_pass_cutoffs={
            "vocals": 80.0,  # Remove low end from vocals
        },
        low_pass_cutoffs={
            "drums": 8000.0,  # Soften high end on drums
        },
    )
    mixer.save_audio(mixed_audio, out / "auto_mix_eq.wav")
    for name, channel in mixer.last_sheet.stems.items():
        print(f"  {name}: {channel.gain_db:+.2f} dB; " + " ".join(channel.notes[-1:]))

    print("\n--- 3. CNN gain prediction (falls back to the rules without a model) ---")
    mixed_audio = mixer.mix_stems(stems, auto_gain=True, use_cnn=True)
    mixer.save_audio(mixed_audio, out / "auto_mix_cnn.wav")
    print(f"  method used: {mixer.last_prediction.method}")

    print("\n--- 4. The predictor on its own ---")
    prediction = GainPredictor(sample_rate=44100).predict(stems)
    print(prediction.summary())
    for name, notes in prediction.notes.items():
        print(f"  {name}: {' '.join(notes)}")


if __name__ == "__main__":
    main()
