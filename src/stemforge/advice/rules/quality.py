"""Technical quality: DC offset, noise floor, silence at the ends, effective bandwidth and
the file's format.

Rules: ``dc_offset``, ``noise_floor``, ``leading_silence``, ``trailing_silence``,
``lowpassed_source``, ``upsampled_source``, ``band_limited``, ``lossy_source``,
``low_sample_rate``, ``low_bit_depth``.
"""

from __future__ import annotations

import math

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext, grade, high_pass_fix, hz_text

#: DC offset grades (the channel mean, dB re full scale), stemforge editorial: -60 dB
#: (0.1 % of full scale) is information, -40 dB (1 %) costs headroom and clicks at edits
#: (a warning), -20 dB (10 %) a problem.
DC_INFO_DB = -60.0
DC_WARNING_DB = -40.0
DC_PROBLEM_DB = -20.0
DC_HIGH_PASS_HZ = 20.0
#: Noise floor (the 10th percentile of 50 ms frame levels, digital silence left out) is
#: only judged when it lies this far below the integrated loudness: then the quietest
#: frames are pauses, not music (a dense mix's quietest frames are music, 20-25 dB
#: below its loudness on the demo songs).
NOISE_MIN_BELOW_PROGRAMME_DB = 30.0
#: Noise grades (stemforge editorial): hiss above -60 dBFS RMS is heard in pauses at
#: normal listening levels (well above the -98 dBFS of 16-bit dither); above -45 dBFS it
#: is heard under quiet passages too.
NOISE_WARNING_DBFS = -60.0
NOISE_PROBLEM_DBFS = -45.0
#: Silence at the ends (below -60 dBFS), stemforge editorial: streaming services play
#: albums gaplessly, so a lead-in over 0.5 s is a noticeable pause and over 2 s sounds
#: like a fault; a tail after the last sound over 2 s (information) or 5 s (warning).
LEADING_INFO_S = 0.5
LEADING_WARNING_S = 2.0
TRAILING_INFO_S = 2.0
TRAILING_WARNING_S = 5.0
#: Kept before the first sound when trimming (a short pre-roll protects the attack).
TRIM_PREROLL_S = 0.05
#: Sample rate and bit depth for a mix sent to mastering (stemforge editorial, the
#: usual requests of mastering engineers: the session's rate, at least 44.1 kHz, and
#: 24-bit or 32-bit float, so that the master's gain changes add no audible noise).
MIN_SAMPLE_RATE_HZ = 44_100
MIN_BIT_DEPTH = 24
#: 8-bit PCM or less: a noise floor near -48 dBFS.
BIT_DEPTH_WARNING = 8


def dc_offset(ctx: RuleContext) -> list[Finding]:
    """A constant offset in a channel."""
    q = ctx.analysis.quality
    level = q.max_dc_offset_db
    if not math.isfinite(level) or level < DC_INFO_DB:
        return []
    offsets = [c.dc_offset for c in q.channels]
    means = ", ".join(f"{o:+.4f}" for o in offsets)
    return [
        Finding(
            rule="dc_offset",
            area="quality",
            severity=grade(level, DC_WARNING_DB, DC_PROBLEM_DB),
            message=(
                f"DC offset of {level:.0f} dBFS (channel means {means}): "
                "it wastes headroom and makes edits click."
            ),
            evidence={"max_dc_offset_db": round(level, 2), "channel_dc_offset": offsets},
            fix=high_pass_fix(DC_HIGH_PASS_HZ, target="master", why=" (removes the offset)"),
        )
    ]


def noise_floor(ctx: RuleContext) -> list[Finding]:
    """Hiss or hum in the pauses."""
    q = ctx.analysis.quality
    floor = q.noise_floor_dbfs
    lufs = ctx.analysis.loudness.integrated_lufs
    if (
        not math.isfinite(floor)
        or not math.isfinite(lufs)
        or floor < NOISE_WARNING_DBFS
        or lufs - floor < NOISE_MIN_BELOW_PROGRAMME_DB
    ):
        return []
    gate = round(floor + 6.0, 0)
    return [
        Finding(
            rule="noise_floor",
            area="quality",
            severity=grade(floor, NOISE_WARNING_DBFS, NOISE_PROBLEM_DBFS),
            message=(
                f"The noise floor is {floor:.0f} dBFS in the quiet passages: hiss or hum is "
                "audible in the pauses."
            ),
            evidence={"noise_floor_dbfs": round(floor, 1), "integrated_lufs": round(lufs, 1)},
            fix=Fix(
                action=(
                    f"denoise the noisy tracks, or gate them (threshold {gate:g} dBFS, release "
                    "100 ms) so the pauses are clean"
                ),
                target="mix",
                processor="noise_gate",
                parameters={"threshold_dbfs": gate, "attack_ms": 1.0, "release_ms": 100.0},
                alternatives=("spectral denoising on the source tracks",),
            ),
        )
    ]


def edge_silence(ctx: RuleContext) -> list[Finding]:
    """Silence before the first and after the last sound."""
    q = ctx.analysis.quality
    out = []
    lead, tail = q.leading_silence_s, q.trailing_silence_s
    if lead >= LEADING_INFO_S:
        cut = max(0.0, lead - TRIM_PREROLL_S)
        out.append(
            Finding(
                rule="leading_silence",
                area="quality",
                severity=grade(lead, LEADING_WARNING_S),
                message=f"{lead:.1f} s of silence before the first sound.",
                evidence={"leading_silence_s": round(lead, 3)},
                fix=Fix(
                    action=f"trim {cut:.2f} s from the start",
                    target="master",
                    processor="trim",
                    parameters={"start_s": round(cut, 3)},
                ),
            )
        )
    if tail >= TRAILING_INFO_S:
        out.append(
            Finding(
                rule="trailing_silence",
                area="quality",
                severity=grade(tail, TRAILING_WARNING_S),
                message=f"{tail:.1f} s of silence after the last sound.",
                evidence={"trailing_silence_s": round(tail, 3)},
                fix=Fix(
                    action=f"trim the end to about {TRAILING_INFO_S / 2:g} s after the last sound",
                    target="master",
                    processor="trim",
                    parameters={"end_s": round(tail - TRAILING_INFO_S / 2, 3)},
                ),
            )
        )
    return out


def bandwidth(ctx: RuleContext) -> list[Finding]:
    """Where the content stops: a lossy encoder's low-pass, or an upsampled file."""
    s = ctx.analysis.spectrum
    verdict = s.bandwidth_verdict
    evidence = {
        "effective_bandwidth_hz": round(s.effective_bandwidth_hz, 0),
        "cliff_hz": round(s.cliff_hz, 0) if math.isfinite(s.cliff_hz) else None,
        "sample_rate": s.sample_rate,
        "verdict": verdict,
    }
    original = Fix(
        action="export the mix again from the session (lossless, at the session's rate)",
        target="mix",
        processor=None,
    )
    if verdict == "lowpass_cliff_detected":
        f = ctx.analysis.file
        lossy = f is not None and not f.lossless
        cause = (
            f", as its {f.codec} encoding explains"
            if lossy
            else ": the low-pass of a lossy encoder (MP3, AAC) somewhere upstream, or a filter "
            "on the master"
        )
        return [
            Finding(
                rule="lowpassed_source",
                area="quality",
                severity=Severity.INFO if lossy else Severity.WARNING,
                message=(
                    f"The content stops abruptly at {hz_text(s.cliff_hz)} (the file could hold "
                    f"{hz_text(s.sample_rate / 2)}){cause}."
                ),
                evidence=evidence,
                fix=original,
            )
        ]
    if verdict == "upsampled":
        return [
            Finding(
                rule="upsampled_source",
                area="quality",
                severity=Severity.WARNING,
                message=(
                    f"The file runs at {s.sample_rate} Hz but its content stops at "
                    f"{hz_text(s.cliff_hz)}: it was upsampled from 44.1 or 48 kHz, so the "
                    "'hi-res' rate adds nothing."
                ),
                evidence=evidence,
                fix=original,
            )
        ]
    if verdict == "band_limited":
        return [
            Finding(
                rule="band_limited",
                area="quality",
                severity=Severity.INFO,
                message=(
                    f"The content fades out by {hz_text(s.effective_bandwidth_hz)}: dull on top, "
                    "or a band-limited source."
                ),
                evidence=evidence,
            )
        ]
    return []


def file_format(ctx: RuleContext) -> list[Finding]:
    """Codec, sample rate and bit depth from the file's headers (files only)."""
    f = ctx.analysis.file
    if f is None:
        return []
    out = []
    base = {"container": f.container, "codec": f.codec, "sample_rate": f.sample_rate}
    if not f.lossless:
        out.append(
            Finding(
                rule="lossy_source",
                area="quality",
                severity=Severity.WARNING,
                message=(
                    f"The file is lossy ({f.codec}"
                    + (f", {f.bitrate_bps // 1000} kbit/s" if f.bitrate_bps else "")
                    + "): the encoder has already thrown away detail, and mastering it makes "
                    "the artefacts louder."
                ),
                evidence={**base, "bitrate_bps": f.bitrate_bps},
                fix=Fix(action="send a lossless bounce (WAV, AIFF or FLAC)", processor=None),
            )
        )
    if f.sample_rate < MIN_SAMPLE_RATE_HZ:
        out.append(
            Finding(
                rule="low_sample_rate",
                area="quality",
                severity=Severity.WARNING,
                message=(
                    f"The file's sample rate is {f.sample_rate} Hz: it cannot hold anything "
                    f"above {hz_text(f.sample_rate / 2)}."
                ),
                evidence=base,
                fix=Fix(
                    action="export at the session's rate (44.1 kHz or more)",
                    processor=None,
                ),
            )
        )
    if f.bit_depth is not None and f.bit_depth < MIN_BIT_DEPTH:
        out.append(
            Finding(
                rule="low_bit_depth",
                area="quality",
                severity=Severity.WARNING if f.bit_depth <= BIT_DEPTH_WARNING else Severity.INFO,
                message=(
                    f"The file is {f.bit_depth}-bit: fine for delivery, but a mix sent to "
                    f"mastering should be {MIN_BIT_DEPTH}-bit or 32-bit float so that gain changes "
                    "add no audible noise."
                ),
                evidence={**base, "bit_depth": f.bit_depth},
                fix=Fix(action="export 24-bit or 32-bit float, without dither", processor=None),
            )
        )
    return out


RULES = (dc_offset, noise_floor, edge_silence, bandwidth, file_format)
