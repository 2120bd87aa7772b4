"""The base of every result: frozen dataclasses with a JSON-safe ``to_dict()``."""

from __future__ import annotations

import dataclasses
import math
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


def finite_or_none(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` when it is missing, not a number, NaN or
    infinite (what a column or a JSON field can hold)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def to_jsonable(value: Any) -> Any:
    """Convert a result value to plain JSON types.

    numpy arrays become (nested) lists, numpy scalars Python numbers, and
    non-finite floats ``None`` (JSON has no NaN or infinity: ``-inf`` LUFS of
    silence is reported as ``null``).
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            arr = value.astype(np.float64)
            return [to_jsonable(v) for v in arr] if arr.ndim > 1 else _floats(arr)
        return value.tolist()
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def _floats(arr: np.ndarray) -> list:
    out = arr.tolist()
    if not np.isfinite(arr).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


class Result:
    """Mixin for frozen result dataclasses: ``to_dict()`` gives JSON-safe values."""

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.repr
        }
