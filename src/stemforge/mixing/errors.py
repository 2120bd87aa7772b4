"""Errors of the mixing layer: a bad mix sheet, or a render that cannot be done."""

from __future__ import annotations

from pathlib import Path

from stemforge.errors import StemforgeError


class MixSheetError(StemforgeError):
    """A mix sheet is malformed: a value out of range, an unknown field, a newer version.

    ``message`` and ``hint`` are kept apart so that a caller can prefix the place of the
    value (``stems['kick'].eq.bands[2]``) and raise the error again.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.message = message
        super().__init__(message, path=path, hint=hint)


class MixRenderError(StemforgeError):
    """A mix cannot be rendered: stems missing from the sheet (or the sheet from the stems),
    no stems at all, a filter frequency above the render rate's Nyquist frequency."""
