"""A readable summary of a :class:`~stemforge.analysis.report.MixAnalysis`.

Pure: it turns results into labelled, formatted rows. The terminal renders them
as tables; other front ends can render the same rows as Markdown or HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stemforge.results import Result

if TYPE_CHECKING:
    from stemforge.analysis.key import KeyResult
    from stemforge.analysis.music import MusicAnalysis
    from stemforge.analysis.report import MixAnalysis
    from stemforge.analysis.rhythm import RhythmResult


@dataclass(frozen=True)
class SummaryRow(Result):
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class SummarySection(Result):
    title: str
    rows: tuple[SummaryRow, ...]


def fmt(value: float | None, unit: str = "", *, digits: int = 1, signed: bool = False) -> str:
    """Format a number with its unit; ``None``, NaN and -inf read as "n/a" or "-inf"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        text = "-inf" if value < 0 else "+inf"
    else:
        text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"{text} {unit}".rstrip()


def fmt_time(seconds: float) -> str:
    """m:ss.s for a time position."""
    minutes, secs = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes)}:{secs:04.1f}"


def summary_sections(result: MixAnalysis) -> list[SummarySection]:
    """The sections printed by ``stemforge analyze``."""
    return [
        _signal(result),
        _loudness(result),
        _dynamics(result),
        _stereo(result),
        _spectrum(result),
        _transients(result),
        _quality(result),
        *music_sections(result.music),
    ]


def _signal(r: MixAnalysis) -> SummarySection:
    rows = [
        SummaryRow("duration", fmt_time(r.duration_s), f"{r.duration_s:.2f} s"),
        SummaryRow("format", f"{r.sample_rate} Hz, {r.channels} ch"),
    ]
    if r.file is not None:
        f = r.file.to_dict()
        codec = " ".join(str(f[k]) for k in ("container", "codec") if f.get(k))
        depth = f"{f['bit_depth']}-bit" if f.get("bit_depth") else "lossy"
        rows.append(SummaryRow("file", codec, depth))
    return SummarySection("Signal", tuple(rows))


def _loudness(r: MixAnalysis) -> SummarySection:
    lo, pa = r.loudness, r.psychoacoustic
    rows = (
        SummaryRow("integrated", fmt(lo.integrated_lufs, "LUFS"), "ITU-R BS.1770-4"),
        SummaryRow("loudness range", fmt(lo.loudness_range_lu, "LU"), "EBU Tech 3342"),
        SummaryRow("max momentary", fmt(lo.momentary_max_lufs, "LUFS"), "400 ms"),
        SummaryRow("max short-term", fmt(lo.short_term_max_lufs, "LUFS"), "3 s"),
        SummaryRow(
            "true peak", fmt(lo.true_peak_dbtp, "dBTP"), f"{lo.oversampling_factor}x oversampled"
        ),
        SummaryRow("sample peak", fmt(lo.sample_peak_dbfs, "dBFS")),
        SummaryRow("PLR", fmt(lo.plr_db, "dB"), "true peak - integrated"),
        SummaryRow("PSR (min / median)", f"{fmt(lo.psr_min_db)} / {fmt(lo.psr_median_db, 'dB')}"),
        SummaryRow(
            "Zwicker loudness",
            f"{fmt(pa.loudness_sone, 'sone')} / {fmt(pa.loudness_level_phon, 'phon')}",
            f"ISO 532-1 at {pa.full_scale_db_spl:g} dB SPL full scale"
            + (" (excerpt)" if pa.excerpt_only else ""),
        ),
        SummaryRow("sharpness", fmt(pa.sharpness_acum, "acum", digits=2), "DIN 45692"),
    )
    return SummarySection("Loudness", rows)


def _dynamics(r: MixAnalysis) -> SummarySection:
    d = r.dynamics
    verdict = "yes: " + "; ".join(d.over_compression_reasons) if d.over_compressed else "no"
    rows = (
        SummaryRow("DR score", "n/a" if d.dr_score is None else f"DR{d.dr_score}", "TT DR meter"),
        SummaryRow("crest factor", fmt(d.crest_factor_db, "dB"), "peak / RMS"),
        SummaryRow("crest spread", fmt(d.crest_spread_db, "dB"), "short-term 10th-90th percentile"),
        SummaryRow("RMS", fmt(d.rms_dbfs, "dBFS")),
        SummaryRow("over-compressed", verdict, f"score {d.over_compression_score:.2f}"),
    )
    return SummarySection("Dynamics", rows)


def _stereo(r: MixAnalysis) -> SummarySection:
    s = r.stereo
    if s.source_channels == 1:
        return SummarySection("Stereo", (SummaryRow("channels", "mono", s.note),))
    worst = _lowest_correlation_band(s)
    rows = [
        SummaryRow("correlation", fmt(s.correlation, digits=2), "+1 mono, 0 wide, -1 out of phase"),
        SummaryRow("width", fmt(s.width, digits=2), "0 mono to 1 wide"),
        SummaryRow("side / mid", fmt(s.side_to_mid_db, "dB")),
        SummaryRow("balance", fmt(s.balance_db, "dB", signed=True), "positive: right louder"),
        SummaryRow("mono loss", fmt(s.mono_loss_db, "dB")),
    ]
    if worst is not None:
        rows.append(
            SummaryRow(
                "lowest band correlation", fmt(worst.correlation, digits=2), f"{worst.name} band"
            )
        )
    phase = ", ".join(f"{fmt_time(p.start_s)}-{fmt_time(p.end_s)}" for p in s.out_of_phase[:5])
    rows.append(SummaryRow("out-of-phase regions", str(len(s.out_of_phase)), phase))
    if s.note:
        rows.append(SummaryRow("note", s.note))
    return SummarySection("Stereo", tuple(rows))


def _lowest_correlation_band(s, *, within_db: float = 30.0):
    """The band of lowest correlation among bands holding real energy.

    Bands more than ``within_db`` below the loudest band carry too little to matter (the
    31.5 Hz band of a trumpet solo): their correlation is noise, not a problem.
    """
    audible = [b for b in s.bands if b.level_db > max(x.level_db for x in s.bands) - within_db]
    return min(audible, key=lambda b: b.correlation) if audible else None


def _spectrum(r: MixAnalysis) -> SummarySection:
    sp = r.spectrum
    rows = [
        SummaryRow(
            f"{band.name} ({band.low_hz:g}-{band.high_hz:g} Hz)",
            fmt(band.relative_db, "dB", signed=True),
            f"{band.energy_fraction * 100:.1f} % of energy",
        )
        for band in sp.tonal_balance
    ]
    rows += [
        SummaryRow("centroid", fmt(sp.centroid_hz, "Hz", digits=0)),
        SummaryRow("roll-off (85 %)", fmt(sp.rolloff_hz, "Hz", digits=0)),
        SummaryRow("flatness", fmt(sp.flatness, digits=3), "0 tonal, 1 noise-like"),
        SummaryRow(
            "effective bandwidth",
            fmt(sp.effective_bandwidth_hz, "Hz", digits=0),
            sp.bandwidth_verdict,
        ),
    ]
    for res in sp.resonances[:5]:
        rows.append(
            SummaryRow(
                "resonance",
                fmt(res.frequency_hz, "Hz", digits=0),
                f"+{res.prominence_db:.1f} dB, Q {res.q:.1f}, "
                f"present {res.presence_fraction * 100:.0f} %",
            )
        )
    return SummarySection("Spectrum", tuple(rows))


def _transients(r: MixAnalysis) -> SummarySection:
    t = r.transients
    rows = (
        SummaryRow("onsets", str(t.onset_count), f"{t.onset_rate_per_s:.1f} per second"),
        SummaryRow("punch", fmt(t.punch_db, "dB"), "attack over sustain energy"),
        SummaryRow("harmonic / percussive", fmt(t.harmonic_to_percussive_db, "dB", signed=True)),
    )
    return SummarySection("Transients", rows)


def _quality(r: MixAnalysis) -> SummarySection:
    q = r.quality
    rows = (
        SummaryRow(
            "clipped runs", str(q.clipped_runs), f"longest {q.longest_clip_run_samples} samples"
        ),
        SummaryRow("inter-sample overs", str(q.inter_sample_overs)),
        SummaryRow("DC offset (worst)", fmt(q.max_dc_offset_db, "dB")),
        SummaryRow("noise floor", fmt(q.noise_floor_dbfs, "dBFS")),
        SummaryRow("leading silence", fmt(q.leading_silence_s, "s", digits=2)),
        SummaryRow("trailing silence", fmt(q.trailing_silence_s, "s", digits=2)),
    )
    return SummarySection("Quality", rows)


def music_sections(m: MusicAnalysis) -> list[SummarySection]:
    """Rhythm, key and structure rows (also printed alone by ``stemforge tempo``/``key``)."""
    return [rhythm_section(m.rhythm), key_section(m.key), _structure(m)]


def rhythm_section(r: RhythmResult) -> SummarySection:
    if not r.beat_times_s.size or r.tempo_bpm is None or math.isnan(r.tempo_bpm):
        return SummarySection("Rhythm", (SummaryRow("tempo", "none found", r.reason),))
    alts = ", ".join(f"{a.tempo_bpm:.1f} ({a.relation})" for a in r.alternatives[:3])
    lo, hi = r.preferred_range_bpm
    rows = [
        SummaryRow("tempo", fmt(r.tempo_bpm, "BPM"), f"confidence {r.confidence:.2f}"),
        SummaryRow("alternatives", alts or "-"),
        SummaryRow("preferred range", f"{lo:g}-{hi:g} BPM"),
        SummaryRow("meter", r.time_signature or "unknown", f"confidence {r.meter_confidence:.2f}"),
        SummaryRow("beats / downbeats", f"{r.beat_times_s.size} / {r.downbeat_times_s.size}"),
        SummaryRow(
            "tempo stability",
            fmt(r.tempo_stability, digits=2),
            "steady" if r.is_steady else "tempo moves",
        ),
    ]
    if r.reason:
        rows.append(SummaryRow("note", r.reason))
    return SummarySection("Rhythm", tuple(rows))


def key_section(k: KeyResult) -> SummarySection:
    if not k.found:
        return SummarySection("Key", (SummaryRow("key", "none found", k.reason or ""),))
    runner = k.runner_up.key if k.runner_up is not None else "-"
    rows = [
        SummaryRow("key", k.key or "-", f"confidence {k.confidence:.2f}"),
        SummaryRow("Camelot / Open Key", f"{k.camelot} / {k.open_key}"),
        SummaryRow("runner-up", runner),
        SummaryRow("tuning", fmt(k.tuning_cents, "cents", signed=True), "from A440"),
    ]
    if k.church_mode:
        rows.append(
            SummaryRow("mode colour", k.church_mode, f"confidence {k.church_mode_confidence:.2f}")
        )
    if len(k.key_changes) > 1:
        changes = ", ".join(f"{fmt_time(c.start_s)} {c.key}" for c in k.key_changes)
        rows.append(SummaryRow("key changes", str(len(k.key_changes) - 1), changes))
    return SummarySection("Key", tuple(rows))


def _structure(m: MusicAnalysis) -> SummarySection:
    st = m.structure
    rows = [
        SummaryRow(
            f"{fmt_time(s.start_s)}-{fmt_time(s.end_s)}",
            f"{s.label} {s.repeat_index}" if s.repeat_index > 1 else s.label,
            f"{s.bars} bars, group {s.group}, energy {s.energy:.2f}",
        )
        for s in st.sections
    ]
    chords = m.chords.segments
    distinct = len({c.label for c in chords if c.label != "N"})
    rows.append(SummaryRow("chords", f"{len(chords)} changes", f"{distinct} distinct triads"))
    if st.note:
        rows.append(SummaryRow("note", st.note))
    return SummarySection("Structure", tuple(rows))
