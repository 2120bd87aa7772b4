"""The one error hierarchy of stemforge.

Every error a user can cause is a :class:`StemforgeError` whose message says what
was wrong and what to do about it. The CLI prints the message and exits non-zero;
the web API returns it as JSON with a 4xx status (``http_status``).
"""

from __future__ import annotations

from pathlib import Path


class StemforgeError(Exception):
    """Base class: a problem the user can act on."""

    http_status = 400

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.path = str(path) if path is not None else None
        self.hint = hint
        text = f"{self.path}: {message}" if self.path else message
        if hint:
            text = f"{text} {hint}"
        super().__init__(text)

    def to_dict(self) -> dict:
        return {"error": type(self).__name__, "message": str(self), "path": self.path}


class AudioError(StemforgeError):
    """A problem with an audio file or an audio signal."""


class AudioFileNotFoundError(AudioError):
    http_status = 404


class AudioPermissionError(AudioError):
    """The file or a folder on its path may not be read by this user."""

    http_status = 403


class EmptyAudioError(AudioError):
    """The file or signal holds no audio frames."""


class AudioDecodeError(AudioError):
    """The file is corrupt, truncated or not audio at all."""

    http_status = 415


class UnsupportedFormatError(AudioError):
    """A container, codec, sample rate, channel count or bit depth stemforge cannot handle."""

    http_status = 415


class InvalidAudioError(AudioError):
    """The samples are unusable: NaN, infinity, wrong shape or type."""


class OutputWriteError(StemforgeError):
    """An output file could not be written (missing or read-only folder, full disk)."""

    http_status = 500


class AudioWriteError(AudioError, OutputWriteError):
    """An audio file could not be written (read-only folder, full disk, bad name)."""

    http_status = 500


class FilterParameterError(StemforgeError):
    """A filter parameter is out of range (frequency at or above Nyquist, q <= 0, ...)."""


class AnalysisError(StemforgeError):
    """An analysis could not run on the given input (too short, wrong parameters)."""


class ModelNotInstalledError(StemforgeError):
    """A neural-network model's weights are not in the model folder."""

    http_status = 503
