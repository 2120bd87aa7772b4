"""Peaks: true peak over the delivery ceiling, clipping and inter-sample overs.

Rules: ``true_peak_over_ceiling``, ``clipping``, ``inter_sample_overs``.
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.advice.findings import Finding, Severity
from stemforge.advice.rules.common import (
    RuleContext,
    limiter_fix,
    merge_times,
    spans_text,
)
from stemforge.advice.rules.loudness import DEFAULT_CEILING_DBTP
from stemforge.analysis.quality import MAX_LISTED

#: Masters louder than the platform's playback level should peak lower: Spotify for
#: Artists, 'Loudness normalization': "below -2 dBTP if it is louder than -14 LUFS".
#: "Louder" from half a LU over the level (stemforge editorial: a master normalised to
#: -14 LUFS by another meter is not louder).
LOUD_MASTER_CEILING_DBTP = {"spotify": -2.0}
LOUD_MASTER_MARGIN_LU = 0.5
#: True-peak meters differ by about this much in their interpolation filters (4x
#: oversampling, ITU-R BS.1770-4 Annex 2): stemforge editorial, so a master limited to
#: exactly the ceiling by another meter is not flagged.
TRUE_PEAK_TOLERANCE_DB = 0.1
#: Above 0 dBTP the decoded or converted signal clips (BS.1770-4 Annex 2: true peak is
#: the level a reconstruction reaches).
OVER_FULL_SCALE_DBTP = 0.0
#: Clipping grades, stemforge editorial: a few short flat-topped runs can pass unheard;
#: ten or more, or one of 10+ samples (0.2 ms at 48 kHz), is audible distortion on
#: transients.
CLIP_PROBLEM_RUNS = 10
CLIP_PROBLEM_RUN_SAMPLES = 10
#: Clipped runs closer than this are reported as one span.
CLIP_MERGE_GAP_S = 1.0
#: Inter-sample overs whose interpolated peak reaches +1 dBFS distort in most DACs and
#: lossy decoders (stemforge editorial, in line with the 1 dB headroom the streaming
#: services ask for).
ISP_PROBLEM_DBFS = 1.0


def ceiling_for(ctx: RuleContext) -> tuple[float, str]:
    """The true-peak ceiling (dBTP) the mix is held to, and its source: the platform's,
    lower for loud masters where the platform says so, else EBU R 128's -1 dBTP."""
    value = ctx.target("true_peak_dbtp")
    if value is None or value.high is None:
        return DEFAULT_CEILING_DBTP, "EBU R 128: maximum permitted true peak level -1 dBTP"
    ceiling, source = value.high, value.source
    p = ctx.platform
    lufs = ctx.analysis.loudness.integrated_lufs
    if (
        p is not None
        and p.name in LOUD_MASTER_CEILING_DBTP
        and math.isfinite(lufs)
        and lufs > p.integrated_lufs + LOUD_MASTER_MARGIN_LU
    ):
        ceiling = LOUD_MASTER_CEILING_DBTP[p.name]
        source = f"{p.display_name}: {p.true_peak_source}"
    return ceiling, source


def true_peak_over_ceiling(ctx: RuleContext) -> list[Finding]:
    """The true peak above the platform's ceiling (lower for loud masters on Spotify)."""
    loud = ctx.analysis.loudness
    tp = loud.true_peak_dbtp
    ceiling, source = ceiling_for(ctx)
    if not math.isfinite(tp) or tp <= ceiling + TRUE_PEAK_TOLERANCE_DB:
        return []
    severity = Severity.PROBLEM if tp > OVER_FULL_SCALE_DBTP else Severity.WARNING
    where = f" for {ctx.platform.display_name}" if ctx.platform is not None else ""
    message = (
        f"The true peak reaches {tp:+.1f} dBTP, {tp - ceiling:.1f} dB over the "
        f"{ceiling:.1f} dBTP ceiling{where}"
    )
    if tp > OVER_FULL_SCALE_DBTP:
        message += ": the reconstructed signal clips in converters and lossy decoders."
    else:
        message += ": lossy encoding can push such peaks over full scale."
    return [
        Finding(
            rule="true_peak_over_ceiling",
            area="peaks",
            severity=severity,
            message=message,
            evidence={
                "true_peak_dbtp": round(tp, 2),
                "channel_true_peak_dbtp": [round(v, 2) for v in loud.channel_true_peak_dbtp],
                "ceiling_dbtp": ceiling,
                "source": source,
            },
            fix=limiter_fix(ceiling),
        )
    ]


def clipping(ctx: RuleContext) -> list[Finding]:
    """Flat-topped runs of samples (see :mod:`stemforge.analysis.quality`), with times."""
    q = ctx.analysis.quality
    if q.clipped_runs == 0:
        return []
    times = np.concatenate([c.clip_times_s for c in q.channels]) if q.channels else []
    spans = merge_times(times, gap_s=CLIP_MERGE_GAP_S, end_s=ctx.analysis.duration_s)
    problem = q.clipped_runs >= CLIP_PROBLEM_RUNS or (
        q.longest_clip_run_samples >= CLIP_PROBLEM_RUN_SAMPLES
    )
    ceiling, _ = ceiling_for(ctx)
    message = (
        f"{q.clipped_runs} clipped run(s) ({q.clipped_samples} samples flattened, the longest "
        f"{q.longest_clip_run_samples} samples)"
    )
    listed = sum(min(c.clipped_runs, MAX_LISTED) for c in q.channels)
    if spans:
        message += f" at {spans_text(spans)}"
        if listed < q.clipped_runs:
            message += f" (the first {listed} runs listed)"
    message += "."
    fix = limiter_fix(
        ceiling,
        action=(
            "re-export with the master fader low enough that nothing clips, and let a "
            f"true-peak limiter with its ceiling at {ceiling:.1f} dBTP catch the peaks"
        ),
    )
    return [
        Finding(
            rule="clipping",
            area="peaks",
            severity=Severity.PROBLEM if problem else Severity.WARNING,
            message=message,
            evidence={
                "clipped_runs": q.clipped_runs,
                "clipped_samples": q.clipped_samples,
                "longest_clip_run_samples": q.longest_clip_run_samples,
                "samples_over_full_scale": q.samples_over_full_scale,
                "channel_clipped_runs": [c.clipped_runs for c in q.channels],
            },
            when=spans,
            fix=fix,
        )
    ]


def inter_sample_overs(ctx: RuleContext) -> list[Finding]:
    """The reconstructed waveform passes 0 dBFS between samples."""
    q = ctx.analysis.quality
    if q.inter_sample_overs == 0:
        return []
    times = np.concatenate([c.inter_sample_over_times_s for c in q.channels])
    spans = merge_times(times, gap_s=CLIP_MERGE_GAP_S, end_s=ctx.analysis.duration_s)
    peak = max(c.max_inter_sample_peak_dbfs for c in q.channels)
    ceiling, _ = ceiling_for(ctx)
    message = (
        f"{q.inter_sample_overs} inter-sample over(s): between samples the waveform reaches "
        f"{peak:+.1f} dBFS"
    )
    if spans:
        message += f" (at {spans_text(spans)})"
    message += "; a sample-peak limiter does not see them, converters and decoders clip them."
    return [
        Finding(
            rule="inter_sample_overs",
            area="peaks",
            severity=Severity.PROBLEM if peak >= ISP_PROBLEM_DBFS else Severity.WARNING,
            message=message,
            evidence={
                "inter_sample_overs": q.inter_sample_overs,
                "max_inter_sample_peak_dbfs": round(peak, 2),
            },
            when=spans,
            fix=limiter_fix(
                ceiling,
                action=f"switch the limiter to true-peak mode, ceiling {ceiling:.1f} dBTP",
            ),
        )
    ]


RULES = (true_peak_over_ceiling, clipping, inter_sample_overs)
