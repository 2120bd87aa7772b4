"""``stemforge mix STEMS_DIR --out mix.wav``: mix a folder of stems automatically, or
re-render an edited mix sheet.

A thin front end over :func:`stemforge.mixing.automix.auto_mix` and
:func:`stemforge.mixing.render.render`; registered on the main Typer app by
:func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stemforge.errors import StemforgeError

_HELP = (
    "Mix a folder of stems: roles, gain, pan, EQ, compression and a limiter, chosen by "
    "rules and written as an editable mix sheet.\n\n"
    "Decide: `stemforge mix STEMS --out mix.wav [--sheet mix.json]` chooses every setting "
    "and writes the mix, the sheet (each setting with the reason for it) and the mix "
    "doctor's HTML report of the result.\n\n"
    "Re-render: `stemforge mix STEMS --out mix2.wav --use-sheet mix.json` (or `--sheet "
    "mix.json` when that file exists, or the same command again) renders the "
    "(edited) sheet exactly as it says, deciding nothing; the same sheet and stems always "
    "give the same file (--target, --genre and --reference then only inform the report).\n\n"
    "An existing sheet is never overwritten (it may hold your edits) unless you pass "
    "--redecide. The sheet defaults to the mix's name with .json, the report to the mix's "
    "name with .html (--no-report leaves it out)."
)


def mix(
    stems_dir: Annotated[
        Path, typer.Argument(help="A folder of stems (WAV, FLAC, AIFF, OGG, MP3, M4A).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The mix to write (.wav or .flac).")],
    sheet: Annotated[
        Path | None,
        typer.Option("--sheet", help="Where to write the mix sheet (default: OUT with .json)."),
    ] = None,
    use_sheet: Annotated[
        Path | None,
        typer.Option(
            "--use-sheet",
            help="Re-render this (edited) mix sheet exactly instead of deciding anything.",
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference", help="A reference track: match its tonal balance and loudness."
        ),
    ] = None,
    genre: Annotated[
        str | None,
        typer.Option("--genre", help="Genre profile (edm, hip_hop, pop, rock, jazz, ...)."),
    ] = None,
    target: Annotated[
        str,
        typer.Option("--target", help="Delivery platform (spotify, apple_music, youtube, ...)."),
    ] = "spotify",
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Where to write the HTML report (default: OUT with .html)."),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write the HTML report.")
    ] = False,
    bit_depth: Annotated[
        int, typer.Option("--bit-depth", help="16, 24 or 32 (float, WAV only).")
    ] = 24,
    redecide: Annotated[
        bool,
        typer.Option(
            "--redecide",
            help="Decide anew even though the sheet file exists (it is overwritten).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    from stemforge.audio.io import save
    from stemforge.audio.stems import load_stems
    from stemforge.cli import _fail, _print_json, console
    from stemforge.mixing.automix import _resolve_target_and_genre, auto_mix
    from stemforge.mixing.render import render
    from stemforge.mixing.sheet import MixSheet
    from stemforge.output import check_destination
    from stemforge.progress import progress_bar

    sheet_path = sheet if sheet is not None else out.with_suffix(".json")
    if use_sheet is None and not redecide and sheet_path.is_file():
        # an existing sheet may hold a person's edits: render it, never overwrite it
        use_sheet, sheet = sheet_path, None
    report_path = (
        None if no_report else (report if report is not None else out.with_suffix(".html"))
    )
    try:
        if use_sheet is not None and sheet is not None and sheet.resolve() == use_sheet.resolve():
            raise StemforgeError(
                "--sheet and --use-sheet name the same file.",
                hint="--use-sheet reads a sheet; --sheet writes one. Leave --sheet out.",
            )
        given = MixSheet.load(use_sheet) if use_sheet is not None else None
        if given is None:
            _resolve_target_and_genre(target, genre)  # before the stems load, not after
        # The sheet is written when decided here or asked for with --sheet.
        sheet_out = sheet_path if (given is None or sheet is not None) else None
        # Every file this run writes, checked before the long work, not after it.
        for path in (out, sheet_out, report_path):
            if path is not None:
                check_destination(path)
        with progress_bar(console, enabled=not as_json) as on_step:
            on_step("loading stems", 0.0)
            stems = load_stems(stems_dir)
            if given is None:
                result = auto_mix(
                    stems, target=target, genre=genre, reference=reference, progress=on_step
                )
                mix_sheet, rendered = result.sheet, result.mix
            else:
                result = None
                on_step("rendering", 0.5)
                mix_sheet, rendered = given, render(stems, given)
            save(out, rendered.audio, bit_depth=bit_depth)
            if sheet_out is not None:
                mix_sheet.save(sheet_out)
            if report_path is not None:
                on_step("mix doctor", 0.9)
                _write_report(
                    out,
                    stems,
                    mix_sheet,
                    report_path,
                    reference=reference,
                    genre=genre,
                    target=target,
                )
    except StemforgeError as error:
        _fail(error)
        return
    if as_json:
        data = result.to_dict() if result is not None else {"sheet": mix_sheet.to_dict()}
        data["output"] = {
            "mix": str(out),
            "sheet": str(sheet_out) if sheet_out is not None else None,
            "report": str(report_path) if report_path is not None else None,
            "integrated_lufs": rendered.integrated_lufs,
            "true_peak_dbtp": rendered.true_peak_dbtp,
        }
        _print_json(data)
        return
    if result is not None:
        for line in result.summary():
            console.print(line, highlight=False, soft_wrap=True)
    else:
        console.print(
            f"Rendered the sheet {use_sheet} as written: {rendered.integrated_lufs:.1f} LUFS, "
            f"{rendered.true_peak_dbtp:.1f} dBTP.",
            highlight=False,
        )
    console.print(f"Mix written to [bold]{out}[/].", highlight=False)
    if sheet_out is not None:
        console.print(f"Mix sheet written to [bold]{sheet_out}[/] (edit it, then --use-sheet).")
    if report_path is not None:
        console.print(f"Mix doctor report written to [bold]{report_path}[/].", highlight=False)


def _write_report(out, stems, sheet, path, *, reference, genre, target) -> None:
    """The mix doctor's report on the written mix, with the stems as the mix places them
    (after their EQ, compressor, gain and pan), so its masking is the mix's own."""
    from stemforge.advice.doctor import examine
    from stemforge.mixing.automix import channel_output
    from stemforge.reports.html import render_html

    placed = {
        name: channel_output(audio, sheet.stems[name])
        for name, audio in stems.items()
        if name in sheet.audible
    }
    result = examine(
        out,
        stems=placed if len(placed) >= 1 else None,
        reference=reference,
        genre=genre,
        target=target,
    )
    render_html(result, path)


mix.__doc__ = _HELP


def register(app: typer.Typer) -> None:
    """Add ``mix`` to the ``stemforge`` command line."""
    app.command("mix", help=_HELP)(mix)
