"""Optional dependencies: imported when there, explained when not."""

from __future__ import annotations

import json

import pytest

from stemforge.errors import ModelNotInstalledError, StemforgeError
from stemforge.optional import require_module


def test_an_installed_module_is_returned():
    assert require_module("json", "unused", hint="unused") is json


def test_a_missing_module_says_how_to_install_it():
    with pytest.raises(ModelNotInstalledError, match="needs nothing real") as info:
        require_module("stemforge_no_such_module", "needs nothing real", hint="pip install x")
    assert info.value.hint == "pip install x"
    assert isinstance(info.value.__cause__, ImportError)

    class ReportError(StemforgeError):
        pass

    with pytest.raises(ReportError, match="no such thing"):
        require_module("stemforge_no_such_module", "no such thing", hint="pip", error=ReportError)
