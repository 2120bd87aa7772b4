"""Optional dependencies: import one, or say how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType

from stemforge.errors import ModelNotInstalledError, StemforgeError


def require_module(
    name: str, message: str, *, hint: str, error: type[StemforgeError] = ModelNotInstalledError
) -> ModuleType:
    """Import the module ``name``; when it is not installed, raise ``error`` with ``message``
    and the ``hint`` that says how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise error(message, hint=hint) from exc
