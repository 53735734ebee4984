"""Timestamps of an insertion's way through the daemon, for the latency benchmark.

Each stage calls :func:`mark`; with no hook set (always, outside the benchmark) that is one
function call that returns at once. ``benchmarks/latency.py``'s daemon child sets a hook
that records ``(stage, key, time.monotonic())``, so the same daemon ``cardwatch run``
builds shows where an insertion's milliseconds go.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: ``hook(stage, key, monotonic_seconds)``
Hook = Callable[[str, str, float], None]

# The one hook slot. It is process-wide on purpose: the stages sit in layers that share
# nothing else, and threading a callback through all of them would cost every caller.
_hook: list[Hook] = []


def set_hook(hook: Hook | None) -> None:
    """Record every stage through ``hook`` from now on (None: stop recording)."""
    _hook[:] = [hook] if hook is not None else []


def mark(stage: str, key: str = "") -> None:
    """Note that ``stage`` was reached (for ``key``, e.g. a reader), if anyone listens."""
    if _hook:
        _hook[0](stage, key, time.monotonic())
