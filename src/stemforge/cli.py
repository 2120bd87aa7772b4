"""The ``stemforge`` command line: a thin layer over the library.

It parses arguments, calls library functions, and presents their results. A
:class:`~stemforge.errors.StemforgeError` becomes one line on stderr and exit
status 1; bad usage exits with 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stemforge import __version__
from stemforge.errors import StemforgeError

app = typer.Typer(
    name="stemforge",
    help="stemforge: check, mix and take apart music. Run `stemforge COMMAND --help` for details.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _fail(error: StemforgeError) -> None:
    err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        console.print(f"stemforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """stemforge: an intelligent music production toolkit."""


@app.command()
def analyze(
    file: Annotated[
        Path, typer.Argument(help="The mix to measure (WAV, FLAC, AIFF, OGG, Opus, MP3, M4A).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every measurement as JSON.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the full result as JSON to this file.")
    ] = None,
    zwicker_time_varying: Annotated[
        bool,
        typer.Option("--time-varying-loudness", help="Add ISO 532-1 time-varying loudness (slow)."),
    ] = False,
) -> None:
    """Measure a mix: loudness, true peak, dynamics, stereo, spectrum, transients, quality,
    tempo, beats, meter, key, chords and structure."""
    from stemforge.analysis.report import analyze as run_analysis
    from stemforge.analysis.summary import summary_sections
    from stemforge.output import write_json_atomic
    from stemforge.progress import progress_bar

    try:
        with progress_bar(console, enabled=not as_json) as on_step:
            result = run_analysis(
                file, progress=on_step, time_varying_loudness=zwicker_time_varying
            )
        data = result.to_dict()
        if out is not None:
            write_json_atomic(out, data)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
        return
    from stemforge.terminal import print_sections

    print_sections(console, summary_sections(result), title=f"stemforge analyze: {file.name}")
    if out is not None:
        console.print(f"Full result written to [bold]{out}[/].")


def _load_for_command(file: Path):
    from stemforge.audio import load

    audio = load(file)
    return audio.require_finite()


@app.command()
def tempo(
    file: Annotated[Path, typer.Argument(help="A track.")],
    min_bpm: Annotated[float, typer.Option("--min-bpm", help="Preferred range, low end.")] = 78.0,
    max_bpm: Annotated[float, typer.Option("--max-bpm", help="Preferred range, high end.")] = 155.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print as JSON (with beat times).")
    ] = False,
) -> None:
    """Tempo, alternatives, meter and beat grid of a track (just that, quickly)."""
    from stemforge.analysis.rhythm import rhythm
    from stemforge.analysis.summary import rhythm_section
    from stemforge.terminal import print_sections

    try:
        result = rhythm(_load_for_command(file), preferred_range_bpm=(min_bpm, max_bpm))
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        return
    print_sections(console, [rhythm_section(result)], title=f"stemforge tempo: {file.name}")


@app.command(name="key")
def key_command(
    file: Annotated[Path, typer.Argument(help="A track.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print as JSON (with all 24 scores).")
    ] = False,
) -> None:
    """Key, mode, Camelot and Open Key codes, tuning and key changes (just that, quickly)."""
    from stemforge.analysis.key import key
    from stemforge.analysis.summary import key_section
    from stemforge.terminal import print_sections

    try:
        result = key(_load_for_command(file))
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        return
    print_sections(console, [key_section(result)], title=f"stemforge key: {file.name}")


@app.command()
def info(
    file: Annotated[Path, typer.Argument(help="An audio file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show an audio file's format, codec, rate, channels and duration without decoding it."""
    from stemforge.audio import info as audio_info

    try:
        result = audio_info(file)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    for key, value in result.to_dict().items():
        console.print(f"[bold]{key:>14}[/]  {value}")


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for stems/, mix.wav and truth.json.")
    ] = Path("demo-out"),
    tempo_bpm: Annotated[float, typer.Option("--tempo", help="Tempo in BPM (40-250).")] = 120.0,
    key: Annotated[str, typer.Option("--key", help="Tonic, e.g. A, F#, Bb.")] = "A",
    mode: Annotated[str, typer.Option("--mode", help="major or minor.")] = "minor",
    time_signature: Annotated[str, typer.Option("--meter", help="3/4, 4/4 or 6/8.")] = "4/4",
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed; the same seed gives the same song.")
    ] = 0,
    sample_rate: Annotated[int, typer.Option("--sample-rate", help="Sample rate in Hz.")] = 44100,
) -> None:
    """Generate the deterministic demo song: stems, their mix and the ground truth."""
    from stemforge.demo import generate_song

    try:
        with console.status("Generating the demo song..."):
            song = generate_song(
                tempo_bpm=tempo_bpm,
                key=key,
                mode=mode,
                time_signature=time_signature,
                seed=seed,
                sample_rate=sample_rate,
            )
            folder = song.save(out)
    except StemforgeError as error:
        _fail(error)
        return
    truth = song.truth
    console.print(
        f"Demo song: {truth.tempo_bpm:g} BPM, {truth.key} {truth.mode}, {truth.time_signature}, "
        f"{song.mix.duration_s:.1f} s, {len(song.stems)} stems -> [bold]{folder}[/]"
    )


def main() -> None:
    """Entry point of the ``stemforge`` script."""
    try:
        app()
    except StemforgeError as error:  # raised outside a command's own handling
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
