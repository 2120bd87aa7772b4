"""Train the CNN gain predictor on a synthetic dataset whose gains are known.

    python examples/train_gain_model.py [--songs 10] [--epochs 40] [--data DIR] [--out DIR]

Builds ``--songs`` demo songs (``stemforge.mixing.train.write_demo_dataset``): each
song's stems are saved with random level changes of up to +/-9 dB and its mix as it
was, so the gain each stem needs is known. Then it trains exactly as
``stemforge train-gain DATASET`` does (least-squares targets from the mixes, a split by
song, early stopping) and shows how close the least-squares targets and the model
come to the planted gains. ``--out`` defaults to the stemforge model folder, where
``StemMixer.mix_stems(..., use_cnn=True)`` finds the model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from stemforge.mixing.train import train_gain_model, write_demo_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--data", help="dataset folder to write (default: a temporary one)")
    parser.add_argument("--out", help="model folder (default: the stemforge model folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data or Path(tmp) / "dataset")
        planted = write_demo_dataset(data, n_songs=args.songs, bars=args.bars)
        print(f"Wrote {len(planted)} songs to {data}")
        report = train_gain_model(data, epochs=args.epochs, out=args.out)

    errors = [
        abs(fit.gains_db[name] - planted[fit.name][name])
        for fit in report.songs
        for name in fit.used
    ]
    print(f"Least-squares targets vs planted gains: max error {max(errors):.4f} dB")
    print(
        f"Trained {report.epochs} epochs (best {report.best_epoch}) on "
        f"{report.n_train_songs} songs; loss {report.train_losses[0]:.2f} -> "
        f"{min(report.train_losses):.2f}"
    )
    print(
        f"Validation MAE {report.validation_mae_db:.2f} dB on {report.n_validation_songs} "
        f"unheard songs (predicting the mean gain: {report.baseline_mae_db:.2f} dB)"
    )
    print(f"Model saved to {report.model_path}")
    print(f"Validation losses: {np.round(report.validation_losses[-5:], 2).tolist()}")


if __name__ == "__main__":
    main()
