"""stemforge: an intelligent music production toolkit.

>>> import stemforge
>>> report = stemforge.analyze("mix.wav")        # doctest: +SKIP
>>> report.loudness.integrated_lufs              # doctest: +SKIP
"""

from stemforge.errors import StemforgeError

__version__ = "0.1.0"


def analyze(source, **kwargs):
    """Measure a mix: every standard measurement of :mod:`stemforge.analysis`.

    ``source`` is a path or an :class:`~stemforge.audio.Audio`. See
    :func:`stemforge.analysis.report.analyze`.
    """
    from stemforge.analysis.report import analyze as _analyze

    return _analyze(source, **kwargs)


__all__ = ["StemforgeError", "__version__", "analyze"]
