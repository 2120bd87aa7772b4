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
        Path, typer.Argument(help="The mix to check (WAV, FLAC, AIFF, OGG, Opus, MP3, M4A).")
    ],
    stems: Annotated[
        Path | None,
        typer.Option("--stems", help="A folder of the mix's stems: masking between them."),
    ] = None,
    reference: Annotated[
        Path | None, typer.Option("--reference", help="A reference track to compare against.")
    ] = None,
    genre: Annotated[
        str | None,
        typer.Option("--genre", help="Genre profile (e.g. pop, edm); overrides the classifier."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Platform (spotify, apple_music, ebu_r128, ...) or custom."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the full result as JSON to this file.")
    ] = None,
    zwicker_time_varying: Annotated[
        bool,
        typer.Option("--time-varying-loudness", help="Add ISO 532-1 time-varying loudness (slow)."),
    ] = False,
) -> None:
    """Check a mix: findings with concrete fixes, then every measurement (loudness, peaks,
    dynamics, stereo, spectrum, transients, quality, reverb, tempo, key, structure)."""
    from rich.markdown import Markdown

    from stemforge.advice.doctor import examine
    from stemforge.output import write_json_atomic
    from stemforge.progress import progress_bar
    from stemforge.reports import render_html, render_json, render_markdown

    try:
        with progress_bar(console, enabled=not as_json) as on_step:
            result = examine(
                file,
                stems=stems,
                reference=reference,
                genre=genre,
                target=target,
                progress=on_step,
                time_varying_loudness=zwicker_time_varying,
            )
        data = render_json(result)
        if out is not None:
            write_json_atomic(out, data)
        if report is not None:
            render_html(result, report)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
        return
    console.print(Markdown(render_markdown(result)))
    for path, what in ((out, "JSON"), (report, "HTML report")):
        if path is not None:
            console.print(f"{what} written to [bold]{path}[/].")


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


# --- targets and genre (issue #4, mix doctor) -------------------------------------------

targets_app = typer.Typer(
    help="Loudness and mix targets: platforms, genres and your own reference tracks.",
    no_args_is_help=True,
)
genre_app = typer.Typer(
    help="A genre classifier trained on your own labelled folders.", no_args_is_help=True
)
app.add_typer(targets_app, name="targets")
app.add_typer(genre_app, name="genre")


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def _range_text(value) -> str:
    low = "" if value.low is None else f"{value.low:g}"
    high = "" if value.high is None else f"{value.high:g}"
    if value.low is None:
        return f"<= {high}"
    if value.high is None:
        return f">= {low}"
    return f"{low} to {high}"


def _number(value: float) -> str:
    if value != value:
        return "-"
    return (
        f"{value:.0f}"
        if abs(value) >= 100
        else f"{value:.1f}"
        if abs(value) >= 10
        else (f"{value:.2f}")
    )


def _stats_table(target, *, title: str):
    """A custom target's distribution per value (the JSON output holds every statistic)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("value (unit in the name)", no_wrap=True)
    for column in ("mean", "std", "min", "median", "max"):
        table.add_column(column, justify="right", no_wrap=True)
    for key, s in target.values.items():
        if s.count:
            cells = (s.mean, s.std, s.min, s.median, s.max)
            table.add_row(key, *(_number(v) for v in cells))
    return table


@targets_app.command("build")
def targets_build(
    folder: Annotated[Path, typer.Argument(help="A folder of reference tracks.")],
    name: Annotated[str, typer.Option("--name", help="Name to save the target under.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure your reference tracks and save their distribution as a custom target."""

    from stemforge.advice.targets import build_targets
    from stemforge.progress import progress_bar

    try:
        with progress_bar(console, enabled=not as_json) as on_step:
            target = build_targets(folder, name=name, progress=on_step)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(target.to_dict())
        return
    console.print(
        _stats_table(target, title=f"custom target {target.name!r}: {target.track_count} track(s)")
    )
    for skipped in target.skipped:
        console.print(f"[yellow]skipped[/] {skipped.file}: {skipped.reason}", highlight=False)
    console.print(f"Saved to [bold]{target.path}[/].")


@targets_app.command("list")
def targets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the platform, genre and custom targets."""
    from rich.table import Table

    from stemforge.advice.targets import list_targets

    try:
        entries = list_targets()
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json([e.to_dict() for e in entries])
        return
    table = Table(title="targets")
    for column in ("kind", "name", "description"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.kind, e.name, e.description)
    console.print(table)


@targets_app.command("show")
def targets_show(
    name: Annotated[str, typer.Argument(help="A platform, genre or custom target name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show one target's values and where each comes from."""
    from rich.table import Table

    from stemforge.advice.targets import CustomTarget, PlatformTarget, find_target

    try:
        target = find_target(name)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(target.to_dict())
        return
    if isinstance(target, CustomTarget):
        title = f"custom target {target.name!r}: {target.track_count} track(s)"
        console.print(_stats_table(target, title=title))
        console.print(f"Measured from {target.folder} on {target.created}; file {target.path}.")
        return
    values = target.target_values()
    kind = "platform" if isinstance(target, PlatformTarget) else "genre"
    table = Table(title=f"{kind} target {target.name!r}: {target.display_name}")
    for column in ("value", "range", "typical", "unit", "source"):
        table.add_column(column)
    sources: list[str] = []
    for key, v in values.items():
        if v.source not in sources:
            sources.append(v.source)
        typical = "-" if v.typical is None else f"{v.typical:g}"
        table.add_row(key, _range_text(v), typical, v.unit, f"[{sources.index(v.source) + 1}]")
    console.print(table)
    console.print(target.notes, highlight=False)
    for i, source in enumerate(sources, 1):
        console.print(f"[{i}] {source}", highlight=False, markup=False)


@genre_app.command("train")
def genre_train(
    folder: Annotated[
        Path, typer.Argument(help="A folder with one sub-folder of tracks per genre.")
    ],
    max_duration: Annotated[
        float, typer.Option("--max-duration", help="Seconds analysed from the middle of a file.")
    ] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train the genre classifier on your labelled folders (sub-folder names are genres)."""
    from rich.table import Table

    from stemforge.advice.genre import train_genre_classifier
    from stemforge.progress import progress_bar

    try:
        with progress_bar(console, enabled=not as_json) as on_step:
            result = train_genre_classifier(folder, max_duration_s=max_duration, progress=on_step)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(result.to_dict())
        return
    table = Table(title="genres")
    for column in ("genre", "files", "CV recall"):
        table.add_column(column, justify="left" if column == "genre" else "right")
    for genre in result.genres:
        acc = result.per_genre_accuracy[genre]
        table.add_row(genre, str(result.file_counts[genre]), f"{acc:.2f}")
    console.print(table)
    for skipped in result.skipped:
        console.print(f"[yellow]skipped[/] {skipped.file}: {skipped.reason}", highlight=False)
    candidates = ", ".join(f"{k} {v:.2f}" for k, v in result.candidate_accuracy.items())
    console.print(f"Candidates ({result.cv_folds}-fold CV accuracy): {candidates}", highlight=False)
    console.print(
        f"Chosen: {result.classifier}, cross-validated accuracy {result.cv_accuracy:.2f} "
        f"({result.cv_folds}-fold, stratified)",
        highlight=False,
    )
    console.print(f"Saved to [bold]{result.model_path}[/].")


@genre_app.command("predict")
def genre_predict(
    file: Annotated[Path, typer.Argument(help="A track.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Predict a track's genre with your trained classifier."""
    from rich.table import Table

    from stemforge.advice.genre import predict_genre

    try:
        prediction = predict_genre(file)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(prediction.to_dict())
        return
    console.print(
        f"{file.name}: [bold]{prediction.genre}[/] (probability {prediction.probability:.2f})"
    )
    table = Table()
    table.add_column("genre")
    table.add_column("probability", justify="right")
    for score in prediction.ranking:
        table.add_row(score.genre, f"{score.probability:.2f}")
    console.print(table)
    if prediction.model_cv_accuracy is not None:
        console.print(
            f"The classifier's cross-validated accuracy: {prediction.model_cv_accuracy:.2f}.",
            highlight=False,
        )


# --- library (issue #5) ------------------------------------------------------------------

library_app = typer.Typer(
    help="Your track library: add, search, tag and re-analyse tracks.", no_args_is_help=True
)
app.add_typer(library_app, name="library")


def _open_library():
    from stemforge.library import Library

    return Library.open()


def _tracks_table(rows, *, title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("id", "title", "artist", "BPM", "key", "LUFS", "duration", "tags"):
        table.add_column(column, justify="right" if column in ("id", "BPM", "LUFS") else "left")
    for t in rows:
        table.add_row(
            str(t.id),
            t.title or t.file_name,
            t.artist or "",
            "-" if t.tempo_bpm is None else f"{t.tempo_bpm:.1f}",
            f"{t.key} ({t.camelot})" if t.key else "-",
            "-" if t.integrated_lufs is None else f"{t.integrated_lufs:.1f}",
            "-" if t.duration_s is None else f"{t.duration_s:.1f} s",
            ", ".join(t.tags),
        )
    return table


def _search_command(query, as_json: bool, title: str) -> None:
    try:
        with _open_library() as lib:
            rows = lib.search(query)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json([r.to_dict() for r in rows])
        return
    console.print(_tracks_table(rows, title=f"{title}: {len(rows)} track(s)"))


_SortOption = Annotated[
    str, typer.Option("--sort", help="bpm, key, lufs, duration, title or added.")
]


_ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor", help="local (a process pool on this machine) or ray (a Ray cluster)."
    ),
]
_AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address", help="The Ray cluster: ray://HOST:10001 or auto (with --executor ray)."
    ),
]
_WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Local worker processes (default: one per core)."),
]


def _executor(name: str, address: str | None, workers: int | None):
    from stemforge.jobs import make_executor

    return make_executor(name, address=address, workers=workers)


@library_app.command("add")
def library_add(
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders (recursive).")],
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Reference the originals where they are.")
    ] = False,
    executor: _ExecutorOption = "local",
    address: _AddressOption = None,
    workers: _WorkersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Add tracks: copy (or reference) each original, read its tags, analyse it, one job
    per file. Run it again after an interruption: it continues and adds no duplicates."""
    from stemforge.jobs import add_paths
    from stemforge.progress import progress_bar

    try:
        with (
            _open_library() as lib,
            _executor(executor, address, workers) as runner,
            progress_bar(console, enabled=not as_json) as on_step,
        ):
            report = add_paths(lib, paths, executor=runner, in_place=in_place, progress=on_step)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(report.to_dict())
    else:
        for item in report.items:
            if item.status == "duplicate":
                console.print(
                    f"[yellow]duplicate[/] {item.path} (track {item.track_id})", highlight=False
                )
            elif item.status == "failed":
                console.print(f"[red]failed[/] {item.path}: {item.reason}", highlight=False)
        console.print(
            f"Added {report.added}, duplicates {report.duplicates}, failed {report.failed}."
        )
    if report.failed:
        raise typer.Exit(1)


@library_app.command("list")
def library_list(
    sort: _SortOption = "added",
    descending: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the library's tracks."""
    from stemforge.library import SearchQuery

    _search_command(SearchQuery(sort=sort, descending=descending, limit=limit), as_json, "library")


# The search filters, shared by `library search` and `library export`.
_BpmMin = Annotated[float | None, typer.Option("--bpm-min")]
_BpmMax = Annotated[float | None, typer.Option("--bpm-max")]
_KeyFilter = Annotated[str | None, typer.Option("--key", help='"A minor", "Am" or "8A".')]
_Compatible = Annotated[
    str | None,
    typer.Option("--compatible", help="Harmonically compatible (Camelot same, relative, ±1)."),
]
_LufsMin = Annotated[float | None, typer.Option("--lufs-min")]
_LufsMax = Annotated[float | None, typer.Option("--lufs-max")]
_GenreFilter = Annotated[str | None, typer.Option("--genre")]
_TagFilter = Annotated[str | None, typer.Option("--tag")]
_DurationMin = Annotated[float | None, typer.Option("--duration-min", help="Seconds.")]
_DurationMax = Annotated[float | None, typer.Option("--duration-max", help="Seconds.")]


def _search_query(**options):
    """The SearchQuery of the shared filter options (other command options are ignored)."""
    from stemforge.library import SearchQuery

    return SearchQuery(
        text=options["text"],
        bpm_min=options["bpm_min"],
        bpm_max=options["bpm_max"],
        key=options["key"],
        compatible_with=options["compatible"],
        lufs_min=options["lufs_min"],
        lufs_max=options["lufs_max"],
        genre=options["genre"],
        tag=options["tag"],
        duration_min_s=options["duration_min"],
        duration_max_s=options["duration_max"],
        sort=options["sort"],
        descending=options["descending"],
        limit=options["limit"],
    )


@library_app.command("search")
def library_search(
    text: Annotated[
        str | None, typer.Argument(help="Text in title, artist, album or file name.")
    ] = None,
    bpm_min: _BpmMin = None,
    bpm_max: _BpmMax = None,
    key: _KeyFilter = None,
    compatible: _Compatible = None,
    lufs_min: _LufsMin = None,
    lufs_max: _LufsMax = None,
    genre: _GenreFilter = None,
    tag: _TagFilter = None,
    duration_min: _DurationMin = None,
    duration_max: _DurationMax = None,
    sort: _SortOption = "added",
    descending: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Search by text, tempo, key, harmonic compatibility, loudness, genre, tag, duration."""

    query = _search_query(**locals())
    _search_command(query, as_json, "search")


@library_app.command("export")
def library_export(
    text: Annotated[
        str | None, typer.Argument(help="Text in title, artist, album or file name.")
    ] = None,
    to: Annotated[
        Path,
        typer.Option("--to", help="A new (or empty) folder, or a FILE.zip.", show_default=False),
    ] = ...,  # type: ignore[assignment]
    layout: Annotated[
        str, typer.Option("--layout", help="flat: one folder; daw: a folder per track.")
    ] = "flat",
    bpm_min: _BpmMin = None,
    bpm_max: _BpmMax = None,
    key: _KeyFilter = None,
    compatible: _Compatible = None,
    lufs_min: _LufsMin = None,
    lufs_max: _LufsMax = None,
    genre: _GenreFilter = None,
    tag: _TagFilter = None,
    duration_min: _DurationMin = None,
    duration_max: _DurationMax = None,
    sort: _SortOption = "added",
    descending: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Export the tracks a search finds (same filters as `library search`): originals,
    stems, samples, MIDI and lyrics, named `Artist - Title [124 BPM 8A Am]`, with a
    manifest.json of metadata and SHA-256 hashes. Originals are only read."""
    from stemforge.library.export import export_tracks
    from stemforge.progress import progress_bar

    query = _search_query(**locals())
    try:
        with _open_library() as lib, progress_bar(console, enabled=not as_json) as on_step:
            report = export_tracks(lib, query, to, layout=layout, progress=on_step)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(report.to_dict())
        return
    for track in report.tracks:
        console.print(f"{track.id:>6}  {track.name}  ({len(track.files)} files)", highlight=False)
    console.print(
        f"Exported {len(report.tracks)} track(s), {report.file_count} files "
        f"({report.total_bytes / 1e6:.1f} MB) to {report.destination}.",
        highlight=False,
    )


@library_app.command("show")
def library_show(
    track_id: Annotated[int, typer.Argument(help="A track id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Everything known about a track: metadata, analysis summary, sections, files."""
    try:
        with _open_library() as lib:
            detail = lib.show(track_id)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(detail.to_dict())
        return
    s = detail.summary
    console.print(_tracks_table([s], title=f"track {s.id}"))
    for label, value in (
        ("album", s.album),
        ("genre", s.genre),
        ("year", detail.year),
        ("time signature", detail.time_signature),
        ("true peak", None if s.true_peak_dbtp is None else f"{s.true_peak_dbtp:.1f} dBTP"),
        ("LRA", None if s.lra_lu is None else f"{s.lra_lu:.1f} LU"),
        ("bars / phrases", f"{detail.bar_count} / {detail.phrase_count}"),
        ("format", f"{detail.file_format}, {detail.sample_rate} Hz, {detail.channels} ch"),
        ("original", f"{detail.original_path}{' (in place)' if detail.in_place else ''}"),
        ("media folder", detail.media_folder),
        ("files", ", ".join(detail.files)),
        ("sha256", detail.content_sha256),
    ):
        if value not in (None, ""):
            console.print(f"[bold]{label:>16}[/]  {value}", highlight=False)
    for section in detail.sections:
        console.print(
            f"{'section':>16}  {section.label} {section.start_s:.1f}-{section.end_s:.1f} s "
            f"({section.bar_count} bars)",
            highlight=False,
        )
    for a in detail.analyses:
        mark = " (current)" if a.is_current else ""
        console.print(
            f"{'analysis':>16}  v{a.analysis_version} {a.algorithm_version} {a.created_at}{mark}",
            highlight=False,
        )


@library_app.command("tag")
def library_tag(
    track_id: Annotated[int, typer.Argument(help="A track id.")],
    tags: Annotated[list[str], typer.Argument(help="Tags to add (or remove).")],
    remove: Annotated[bool, typer.Option("--remove", help="Remove these tags.")] = False,
) -> None:
    """Add tags to a track, or remove them with --remove."""
    try:
        with _open_library() as lib:
            now = lib.tag(track_id, tags, remove=remove)
    except StemforgeError as error:
        _fail(error)
        return
    console.print(f"track {track_id} tags: {', '.join(now) or '(none)'}", highlight=False)


@library_app.command("remove")
def library_remove(track_id: Annotated[int, typer.Argument(help="A track id.")]) -> None:
    """Remove a track and what stemforge derived from it (originals in place stay)."""
    try:
        with _open_library() as lib:
            removed = lib.remove(track_id)
    except StemforgeError as error:
        _fail(error)
        return
    console.print(f"Removed track {track_id} ({removed.title}).", highlight=False)
    if removed.kept_original:
        console.print(f"The original stays at {removed.kept_original}.", highlight=False)


@library_app.command("reanalyze")
def library_reanalyze(
    track_ids: Annotated[list[int] | None, typer.Argument(help="Track ids.")] = None,
    all_tracks: Annotated[bool, typer.Option("--all", help="Every track.")] = False,
    outdated: Annotated[
        bool, typer.Option("--outdated", help="Tracks analysed by an older algorithm.")
    ] = False,
    executor: _ExecutorOption = "local",
    address: _AddressOption = None,
    workers: _WorkersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Run the analysis again and store it as a new version (one job per track)."""
    from stemforge.jobs import reanalyze_tracks
    from stemforge.progress import progress_bar

    if not track_ids and not all_tracks and not outdated:
        err_console.print("Give track ids, --all or --outdated.")
        raise typer.Exit(2)
    try:
        with (
            _open_library() as lib,
            _executor(executor, address, workers) as runner,
            progress_bar(console, enabled=not as_json) as on_step,
        ):
            report = reanalyze_tracks(
                lib, track_ids or None, outdated=outdated, executor=runner, progress=on_step
            )
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(report.to_dict())
        return
    for item in report.items:
        if item.status == "failed":
            console.print(f"[red]failed[/] track {item.track_id}: {item.reason}", highlight=False)
    done = sum(1 for item in report.items if item.status == "analysed")
    console.print(f"Re-analysed {done} track(s) with {report.algorithm_version}.")


# --- jobs (issue #5) ---------------------------------------------------------------------

jobs_app = typer.Typer(
    help="Jobs over the library: list, show, cancel, retry.", no_args_is_help=True
)
app.add_typer(jobs_app, name="jobs")


def _job_line(job) -> str:
    where = f" track {job.track_id}" if job.track_id is not None else ""
    text = f"{job.id:>6}  {job.kind:<8} {job.state:<9} {job.progress * 100:5.1f}%{where}"
    text += f"  attempts {job.attempts}/{job.max_attempts}"
    if job.error:
        text += f"  {job.error}"
    return text


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        str | None, typer.Option("--state", help="queued, running, done, failed or cancelled.")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="ingest, analyze, ...")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List jobs, newest first."""
    from stemforge.jobs import list_jobs

    try:
        with _open_library() as lib:
            rows = list_jobs(lib, state=state, kind=kind, limit=limit)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json([r.to_dict() for r in rows])
        return
    from rich.table import Table

    table = Table(title=f"jobs: {len(rows)}")
    for column in ("id", "kind", "state", "progress", "track", "attempts", "error"):
        table.add_column(column, justify="right" if column in ("id", "progress") else "left")
    for j in rows:
        table.add_row(
            str(j.id),
            j.kind,
            j.state,
            f"{j.progress * 100:.0f}%",
            "" if j.track_id is None else str(j.track_id),
            f"{j.attempts}/{j.max_attempts}",
            j.error or "",
        )
    console.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[int, typer.Argument(help="A job id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Everything about a job: state, progress, attempts, error, parameters, result."""
    from stemforge.jobs import get_job

    try:
        with _open_library() as lib:
            job = get_job(lib, job_id)
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        _print_json(job.to_dict())
        return
    for label, value in job.to_dict().items():
        if value not in (None, "", {}):
            console.print(f"[bold]{label:>12}[/]  {value}", highlight=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[int, typer.Argument(help="A job id.")]) -> None:
    """Cancel a job: a queued one never starts, a running one stops at its next progress check."""
    from stemforge.jobs import cancel_job

    try:
        with _open_library() as lib:
            job = cancel_job(lib, job_id)
    except StemforgeError as error:
        _fail(error)
        return
    console.print(f"Job {job.id} is {job.state}.", highlight=False)


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[int, typer.Argument(help="A job id.")],
    queue_only: Annotated[
        bool,
        typer.Option(
            "--queue-only", help="Only queue it (a running `stemforge serve` picks it up)."
        ),
    ] = False,
    executor: _ExecutorOption = "local",
    address: _AddressOption = None,
    workers: _WorkersOption = None,
) -> None:
    """Queue a failed or cancelled job again (attempts start over) and run it now."""
    from stemforge.jobs import retry_job, run_jobs
    from stemforge.progress import progress_bar

    try:
        with _open_library() as lib:
            job = retry_job(lib, job_id)
            if not queue_only:
                with (
                    _executor(executor, address, 1 if workers is None else workers) as runner,
                    progress_bar(console) as on_step,
                ):
                    job = run_jobs(lib, [job_id], runner, progress=on_step).get(job_id, job)
    except StemforgeError as error:
        _fail(error)
        return
    detail = f": {job.error}" if job.state == "failed" and job.error else ""
    console.print(f"Job {job.id} is {job.state}{detail}.", highlight=False)
    if job.state == "failed":
        raise typer.Exit(1)


# Commands that live beside their layers join the app here (their modules import lazily).
from stemforge.commands.mix import register as _register_mix  # noqa: E402
from stemforge.commands.train_gain import register as _register_train_gain  # noqa: E402
from stemforge.web.cli import register as _register_web  # noqa: E402

for _register in (_register_mix, _register_train_gain, _register_web):
    _register(app)


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
