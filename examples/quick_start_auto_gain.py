"""Quick start: mix stems with automatic gain prediction (source document 001).

    python examples/quick_start_auto_gain.py                 # demo stems, made on the fly
    python examples/quick_start_auto_gain.py path/to/stems/  # your own stems folder

Prints the predicted gains, saves the mix as ``auto_mix.wav`` and its editable mix
sheet as ``auto_mix.json`` (in ``--out``, default the current folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stemforge.mixing.stem_mixer import StemMixer


def demo_stems(folder: Path, bars: int) -> dict[str, str]:
    """Write four demo stems (drums, bass, vocals, synth) and return their paths."""
    from stemforge.audio import save
    from stemforge.audio.signal import mix
    from stemforge.demo import generate_song

    song = generate_song(sections=[("verse", bars)], seed=7)
    groups = {
        "drums": ["kick", "snare", "hats"],
        "bass": ["bass"],
        "vocals": ["vocal"],
        "synth": ["chords", "lead"],
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, parts in groups.items():
        path = folder / f"{name}.wav"
        save(path, mix([song.stems[p] for p in parts]), bit_depth=24)
        paths[name] = str(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stems", nargs="?", help="a folder of stems (default: demo stems)")
    parser.add_argument("--out", default=".", help="folder for auto_mix.wav and auto_mix.json")
    parser.add_argument("--bars", type=int, default=8, help="length of the demo song in bars")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    if args.stems:
        folder = Path(args.stems)
        stems = {
            p.stem: str(p)
            for p in sorted(folder.iterdir())
            if p.suffix.lower() in (".wav", ".flac", ".aiff", ".aif", ".mp3", ".ogg", ".m4a")
        }
    else:
        stems = demo_stems(out / "stems", args.bars)

    mixer = StemMixer(sample_rate=44100)
    mixed_audio = mixer.mix_stems(stems, auto_gain=True, use_cnn=False)
    mixer.save_audio(mixed_audio, out / "auto_mix.wav")
    mixer.last_sheet.save(out / "auto_mix.json")
    rendered = mixer.last_render
    print(
        f"\nSaved {out / 'auto_mix.wav'} ({rendered.integrated_lufs:.1f} LUFS, true peak "
        f"{rendered.true_peak_dbtp:.1f} dBTP) and its mix sheet {out / 'auto_mix.json'}."
    )


if __name__ == "__main__":
    main()
