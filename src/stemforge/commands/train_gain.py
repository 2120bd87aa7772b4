"""``stemforge train-gain DATASET``: train the gain CNN on the user's multitracks.

A thin front end over :func:`stemforge.mixing.train.train_gain_model`; registered on
the main Typer app by :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stemforge.errors import StemforgeError


def train_gain(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="A folder of songs, each a folder with its mix (mix.* or mixture.*) and its "
            "stems (in stems/ or beside the mix)."
        ),
    ],
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Most training epochs.")] = 100,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to save the model in (default: the model folder)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train the CNN gain predictor: target gains come from each song's mix by least squares."""
    from stemforge.cli import _fail, _print_json, console
    from stemforge.mixing.train import train_gain_model
    from stemforge.progress import progress_bar

    try:
        with progress_bar(console, enabled=not as_json) as on_step:
            report = train_gain_model(dataset, epochs=epochs, out=out, progress=on_step)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(report.to_dict())
        return
    from rich.table import Table

    table = Table(title="least-squares gains from the mixes")
    for column in ("song", "fit", "residual dB", "stems"):
        table.add_column(column, justify="left" if column in ("song", "fit") else "right")
    for song in report.songs:
        table.add_row(song.name, song.method, f"{song.residual_db:.1f}", str(len(song.used)))
    console.print(table)
    for line in report.skipped:
        console.print(f"[yellow]skipped[/] {line}", highlight=False)
    console.print(
        f"{report.n_songs} songs ({report.n_train_songs} training, "
        f"{report.n_validation_songs} validation), {report.n_stems} stems; "
        f"{report.epochs} epochs (best {report.best_epoch}"
        f"{', stopped early' if report.stopped_early else ''}).",
        highlight=False,
    )
    console.print(
        f"Validation MAE {report.validation_mae_db:.2f} dB "
        f"(always predicting the mean gain: {report.baseline_mae_db:.2f} dB).",
        highlight=False,
    )
    console.print(f"Saved {report.model_path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``train-gain`` to the ``stemforge`` command line."""
    app.command("train-gain")(train_gain)
