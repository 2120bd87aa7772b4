"""Job kinds: a registry from a kind's name to its function and declared resources.

A job function takes the job's parameters and a progress reporter and returns a JSON-safe
dict (stored as the job's result)::

    @register("separate", num_gpus=1)
    def separate(params: dict, progress: JobProgress) -> dict:
        lib = progress.library               # the library, opened in this worker
        progress("separating", 0.5)          # may raise JobCancelled
        return {"track_id": params["track_id"]}

The same function runs in a local worker process and as a Ray task (where ``num_cpus``
and ``num_gpus`` become the task's resource request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stemforge.jobs.errors import JobError

JobFunction = Callable[[dict[str, Any], Any], dict[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    name: str
    function: JobFunction
    num_cpus: float = 1.0
    num_gpus: float = 0.0


_KINDS: dict[str, JobKind] = {}


def register(
    name: str, *, num_cpus: float = 1.0, num_gpus: float = 0.0
) -> Callable[[JobFunction], JobFunction]:
    """Register ``function`` as the job kind ``name`` (a decorator)."""

    def decorate(function: JobFunction) -> JobFunction:
        _KINDS[name] = JobKind(name, function, num_cpus=num_cpus, num_gpus=num_gpus)
        return function

    return decorate


def get_kind(name: str) -> JobKind:
    _load_builtin()
    try:
        return _KINDS[name]
    except KeyError:
        raise JobError(
            f"no job kind is named {name!r}.", hint=f"Known kinds: {', '.join(sorted(_KINDS))}."
        ) from None


def kinds() -> dict[str, JobKind]:
    _load_builtin()
    return dict(_KINDS)


def _load_builtin() -> None:
    import stemforge.jobs.kinds  # noqa: F401  (registers ingest and analyze)
