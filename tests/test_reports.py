"""The mix doctor's report: Markdown, JSON and the self-contained HTML page, built from real
analyses of a demo song (mix, stems and an equalised reference) and hand-made findings, and
the page opened in headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from stemforge.advice.doctor import MixDoctorResult
from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.reference import compare_to_reference
from stemforge.advice.targets import target_set
from stemforge.analysis.common import TimeRange
from stemforge.analysis.masking import masking
from stemforge.analysis.report import analyze
from stemforge.analysis.reverb import reverb
from stemforge.analysis.summary import summary_sections
from stemforge.audio import save
from stemforge.audio.filters import EQ, HighShelf, PeakingEQ
from stemforge.demo import generate_song
from stemforge.errors import OutputWriteError
from stemforge.reports import REPORT_SCHEMA_VERSION, render_html, render_json, render_markdown, text
from stemforge.reports.figures import clock, decimate, report_plots

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PLOTS_WITH_STEMS = {
    "plot-loudness",
    "plot-spectrum",
    "plot-tonal",
    "plot-eq",
    "plot-vectorscope",
    "plot-correlation",
    "plot-masking",
    "plot-masking-matrix",
    "plot-transients",
}


@pytest.fixture(scope="module")
def song():
    """24 s of the demo song: intro, verse, chorus, outro."""
    return generate_song(seed=3, sections=[("intro", 2), ("verse", 4), ("chorus", 4), ("outro", 2)])


@pytest.fixture(scope="module")
def analysis(song, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "demo-mix.wav"
    save(path, song.mix, bit_depth=24)
    return analyze(path)


def _findings(analysis, mask) -> tuple[Finding, ...]:
    """Findings as the mix doctor words them, with figures from the real measurements."""
    lo = analysis.loudness
    pair = mask.pair("bass", "kick")
    return (
        Finding(
            "loudness_above_target",
            "loudness",
            Severity.WARNING,
            f"Integrated loudness {lo.integrated_lufs:.1f} LUFS is above Spotify's -14 LUFS.",
            evidence={"integrated_lufs": lo.integrated_lufs, "target_lufs": -14.0},
            fix=Fix(
                "Turn the master down before the limiter.",
                target="master",
                processor="gain",
                parameters={"gain_db": round(-14.0 - lo.integrated_lufs, 1)},
            ),
        ),
        Finding(
            "low_end_mono",
            "stereo",
            Severity.INFO,
            "The low end is mono below 120 Hz, as it should be.",
            evidence={"correlation_below_120_hz": 0.99},
        ),
        Finding(
            "true_peak_over_ceiling",
            "peaks",
            Severity.PROBLEM,
            f"True peak reaches {lo.true_peak_dbtp:+.1f} dBTP, above the -2.0 dBTP ceiling.",
            evidence={
                "true_peak_dbtp": lo.true_peak_dbtp,
                "ceiling_dbtp": -2.0,
                "source": "Spotify for Artists, 'Loudness normalization': keep the master "
                "below -1 dBTP (below -2 dBTP if it is louder than -14 LUFS)",
            },
            when=(TimeRange(8.0, 8.6), TimeRange(15.0, 17.5)),
            fix=Fix(
                "Set the limiter's ceiling to -2.0 dBTP with true-peak detection on.",
                target="master",
                processor="limiter",
                parameters={"ceiling_dbtp": -2.0, "true_peak": True},
            ),
        ),
        Finding(
            "stem_masking",
            "masking",
            Severity.PROBLEM,
            pair.describe(),
            evidence={
                "masked_fraction": pair.masked_fraction,
                "loss_db": pair.loss_db,
                "worst_bands": [b.to_dict() for b in pair.worst_bands],
            },
            when=tuple(TimeRange(s.start_s, s.end_s) for s in pair.time_ranges),
            stems=("bass", "kick"),
            fix=Fix(
                "Cut 3 dB at 60 Hz, Q 1.4, on the bass.",
                target="bass",
                processor="peaking_eq",
                parameters={"frequency_hz": 60.0, "gain_db": -3.0, "q": 1.4},
                alternatives=("Sidechain-duck the bass from the kick by 4 dB.",),
            ),
        ),
    )


@pytest.fixture(scope="module")
def result(song, analysis) -> MixDoctorResult:
    """Everything: stems, a reference (the mix with a planted EQ), targets, reverb."""
    mask = masking(song.stems)
    reference = EQ((PeakingEQ(250.0, -3.0, 1.0), HighShelf(8000.0, 3.0))).process(song.mix)
    return MixDoctorResult(
        analysis=analysis,
        findings=_findings(analysis, mask),
        platform="spotify",
        genre="pop",
        genre_source="predicted",
        masking=mask,
        reverb=reverb(song.mix),
        reference=compare_to_reference(song.mix, reference),
        reference_analysis=analyze(reference),
        stem_notes={"vocal": ("resampled from 48000 Hz",)},
        timings_s={"analysis": 3.0},
        targets=target_set(platform="spotify", genre="pop"),
        target_source="explicit",
        notes=("the genre classifier is old; retrain it",),
    )


@pytest.fixture(scope="module")
def bare(analysis) -> MixDoctorResult:
    """A mix alone: no stems, no reference, no targets, nothing found."""
    return MixDoctorResult(analysis=analysis, findings=())


@pytest.fixture(scope="module")
def pages(result, bare, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    return {
        "full": render_html(result, folder / "report.html"),
        "bare": render_html(bare, folder / "bare.html"),
    }


# --- formatting -------------------------------------------------------------------------


def test_values_read_with_their_units():
    assert text.split_unit("true_peak_dbtp") == ("true peak", "dBTP")
    assert text.split_unit("correlation_below_120_hz") == ("correlation below 120 Hz", "")
    assert text.split_unit("onset_rate_per_s") == ("onset rate", "per s")
    assert text.value_text("true_peak_dbtp", 0.4321) == "0.4 dBTP"
    assert text.value_text("frequency_hz", 2500.0) == "2.5 kHz"
    assert text.value_text("cutoff_hz", 180.0) == "180 Hz"
    assert text.value_text("masked_fraction", 0.684) == "68 %"
    assert text.value_text("start_s", 62.5) == "1:02.5"
    assert text.value_text("duration_s", 2.5) == "2.5 s"
    assert text.value_text("q", 1.0) == "1.0"
    assert text.value_text("true_peak", True) == "yes"
    assert text.value_text("band_range_hz", [40.0, 101.0]) == "40 Hz–101 Hz"
    assert text.value_text("gains_db", np.array([-3.0, 1.25])) == "-3.0, 1.2 dB"
    assert text.value_text("integrated_lufs", -math.inf) == "-inf LUFS"
    assert text.value_text("plr_db", math.nan) == "n/a"
    assert text.span(TimeRange(65.0, 71.5)) == "1:05.0–1:11.5"
    assert text.chord_name("A:min") == "Am" and text.chord_name("F:maj") == "F"
    evidence = {
        "band": "air",
        "source": "stemforge editorial: a rough tonal shape, not a measured corpus statistic",
        "worst_bands": [{"low_hz": 20.0, "masked_fraction": 0.5}],
        "bands": [{"type": "peaking", "frequency_hz": 250.0, "gain_db": -3.0, "q": 1.02}],
        "type": "eq",
    }
    assert text.items(evidence) == [
        text.Item("band", "air"),
        text.Item("bands", "bell 250 Hz, -3.0 dB, Q 1.02"),
    ]
    assert text.notes(evidence) == [evidence["source"]]


def test_decimation_keeps_peaks_and_gaps():
    t = np.arange(10_000) / 10.0
    v = np.sin(t)
    v[5000] = 9.0  # a single-sample peak
    v[7000:7600] = np.nan  # a silent stretch
    dt, dv = decimate(t, v, 2000)
    assert dt.size <= 2000 and np.all(np.diff(dt) > 0)
    assert np.nanmax(dv) == 9.0 and np.nanmin(dv) == pytest.approx(-1.0, abs=1e-3)
    assert np.isnan(dv).any()
    short_t, _ = decimate(t[:50], v[:50], 2000)
    assert short_t.size == 50


def test_times_are_date_strings_that_read_as_m_ss():
    assert clock([0.0, 62.5, 3725.25, math.nan]) == [
        "1970-01-01 00:00:00.000",
        "1970-01-01 00:01:02.500",
        "1970-01-01 01:02:05.250",
        None,
    ]


# --- Markdown and JSON ------------------------------------------------------------------


def test_markdown_puts_findings_with_fixes_before_the_measurements(result):
    md = render_markdown(result)
    assert md.startswith("# Mix doctor: demo-mix.wav")
    assert "target Spotify: -14 LUFS ±1 LU" in md and "Pop (predicted from the audio)" in md
    assert "**2 problems · 1 warning · 1 info**" in md
    order = [
        md.index("## Problems (2)"),
        md.index("## Warnings (1)"),
        md.index("## Info (1)"),
        md.index("## Masking between stems"),
        md.index("## Against the reference"),
        md.index("## Measurements"),
    ]
    assert order == sorted(order)
    problems = md[order[0] : order[1]]
    # the most severe first, then by area: peaks before masking
    assert problems.index("True peak reaches") < problems.index("Bass masks kick")
    assert "- *Spotify for Artists, 'Loudness normalization'" in problems  # a note, not a figure
    assert "worst bands" not in problems  # records stay in the JSON
    assert "- **When:** 0:08.0–0:08.6, 0:15.0–0:17.5" in problems
    assert "- **Fix** (on the master, limiter): Set the limiter's ceiling" in problems
    assert "`ceiling -2.0 dBTP` · `true peak yes`" in problems
    assert "- **Fix** (on bass, peaking eq): Cut 3 dB at 60 Hz, Q 1.4, on the bass." in problems
    assert "`frequency 60 Hz` · `gain -3.0 dB` · `Q 1.4`" in problems
    assert "- **Or:** Sidechain-duck the bass" in problems
    assert "*Masking · stems: bass, kick*" in problems
    info = md[order[2] : order[3]]
    assert "correlation below 120 Hz **0.99**" in info and "**Fix**" not in info
    measurements = md[order[5] :]
    for section in summary_sections(result.analysis):
        assert f"### {section.title}" in measurements
    assert "| integrated | -13" in measurements or "| integrated |" in measurements
    assert "bell 250 Hz" in md and "high shelf" in md


def test_markdown_renders_in_rich_in_the_same_order(result):
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(Markdown(render_markdown(result)))
    shown = console.export_text()
    assert shown.index("True peak reaches") < shown.index("Measurements")
    assert "Cut 3 dB at 60 Hz" in shown and "ITU-R BS.1770-4" in shown
    assert "**" not in shown  # the markup was read, not printed


def test_markdown_escapes_and_reads_well_without_findings(bare, analysis):
    md = render_markdown(bare)
    assert "No findings: nothing to fix" in md
    assert "## Problems" not in md and "## Masking" not in md
    assert md.index("**No findings") < md.index("## Measurements")
    odd = Finding("odd", "stems", Severity.WARNING, "stem *lead_vox* | left [x]", stems=("a_b",))
    md = render_markdown(MixDoctorResult(analysis=analysis, findings=(odd,)))
    assert r"Stem \*lead\_vox\* \| left \[x\]" in md


def test_json_is_the_result_with_a_schema_version(result):
    data = render_json(result)
    assert next(iter(data)) == "schema_version" and data["schema_version"] == REPORT_SCHEMA_VERSION
    decoded = json.loads(json.dumps(data, allow_nan=False))
    assert len(decoded["findings"]) == 4
    assert decoded["findings"][0]["fix"]["parameters"]["gain_db"] == pytest.approx(
        round(-14.0 - result.analysis.loudness.integrated_lufs, 1)
    )
    assert decoded["masking"]["stem_names"] == list(result.masking.stem_names)
    assert decoded["reference"]["suggested_eq"]["type"] == "eq"
    assert decoded["genre_source"] == "predicted"


# --- HTML -------------------------------------------------------------------------------


def test_html_is_one_self_contained_file(pages, result):
    path = pages["full"]
    page = path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # atomic
    assert page.startswith("<!doctype html>")
    assert "plotly.js v" in page and 4_000_000 < len(page) < 7_000_000
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "<script></script>", page, flags=re.S)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.I)
    assert "<link" not in markup and "@import" not in markup and "url(" not in markup
    assert markup.count("<script") == 3 and "<script src" not in markup
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page
    for finding in result.findings:
        assert _escaped(text.sentence(finding.message)) in page
        if finding.fix is not None:
            assert _escaped(text.sentence(finding.fix.action)) in page
    assert '<p class="source">Spotify for Artists' in page and "worst bands" not in page
    assert "ceiling <b>-2.0 dBTP</b>" in page and "0:08.0–0:08.6" in page
    ids = set(re.findall(r'<div class="plot[^"]*" id="(plot-[a-z-]+)"', page))
    assert ids == PLOTS_WITH_STEMS == set(report_plots(result))
    for plot_id in ids:
        assert re.search(rf'id="{plot_id}" role="img" aria-label="[^"]{{20,}}" tabindex="0"', page)
    # content order: header, findings, plots, tables, music
    marks = [
        "<h1>demo-mix.wav</h1>",
        'id="findings"',
        _escaped(text.sentence(result.findings[2].message)),  # the true-peak problem first
        _escaped(text.sentence(result.findings[0].message)),  # then the warning
        'id="plot-loudness"',
        'id="plot-spectrum"',
        'id="plot-vectorscope"',
        'id="plot-masking"',
        'id="plot-transients"',
        'id="measurements"',
        'id="music"',
    ]
    positions = [page.index(m) for m in marks]
    assert positions == sorted(positions)
    assert page.count('<option value="') >= 5  # the masking menu offers the worst pairs
    assert "Against the reference" in page and "A minor" in page and "BPM" in page


def test_html_without_stems_reference_or_findings(pages):
    page = pages["bare"].read_text(encoding="utf-8")
    assert "No findings: nothing to fix" in page
    assert 'id="plot-masking"' not in page and 'id="plot-eq"' not in page
    assert 'id="plot-loudness"' in page and 'id="plot-tonal"' in page
    assert "Target</dt><dd>none" in page


def test_html_into_a_missing_folder_is_an_actionable_error(bare, tmp_path):
    with pytest.raises(OutputWriteError, match="folder does not exist"):
        render_html(bare, tmp_path / "missing" / "report.html")


def _escaped(message: str) -> str:
    from markupsafe import escape

    return str(escape(message))


# --- in the browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, path: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    log = {"console": [], "errors": [], "requests": []}
    page.on("console", lambda m: log["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("request", lambda r: log["requests"].append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-plots=ready]", timeout=30_000)
    return page, log


@pytest.mark.parametrize("width", [1280, 390])
def test_page_renders_offline_at_laptop_and_phone_widths(browser, pages, width):
    path = pages["full"]
    page, log = _open(browser, path, width)
    try:
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => [
                el.id, el.querySelectorAll('svg.main-svg').length,
                el.querySelectorAll('.plot path, .plot image, .heatmaplayer image').length])"""
        )
        assert {plot_id for plot_id, _, _ in drawn} == PLOTS_WITH_STEMS
        assert all(svgs > 0 and marks > 0 for _, svgs, marks in drawn), drawn
        assert log["errors"] == []
        assert [m for m in log["console"] if m[0] in ("error", "warning")] == []
        assert log["requests"] == [path.as_uri()]
        # nothing wider than the screen (tables scroll inside their own box)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= width
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{width}.png"), full_page=True)
    finally:
        page.close()


def test_plots_are_keyboard_focusable_and_the_masking_menu_switches_pairs(browser, pages):
    page, log = _open(browser, pages["full"], 1280)
    try:
        page.focus("#plot-loudness")
        assert page.evaluate("document.activeElement.id") == "plot-loudness"
        visible = "document.getElementById('plot-masking').data.map(d => d.visible)"
        first = page.evaluate(visible)
        assert first[0] is True and not any(first[1:])
        page.select_option("#masking-pair", "2")
        assert page.evaluate(visible) == [i == 2 for i in range(len(first))]
        assert log["errors"] == []
    finally:
        page.close()


def test_bare_page_renders_without_errors(browser, pages):
    page, log = _open(browser, pages["bare"], 1280)
    try:
        assert page.locator(".js-plotly-plot").count() == 6
        assert log["errors"] == [] and log["requests"] == [pages["bare"].as_uri()]
    finally:
        page.close()
