"""Network checks built on their first use, so that an idle daemon loads none of their code.

The real probes import cryptography, urllib, http.client and ssl, and the revocation cache
reads its files: megabytes an idle daemon would hold for nothing. :func:`deferred` stands in
for them with the same two interfaces and builds the real ones when a check first needs
either; from then on every call goes straight to them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..model import ClockReading, RevocationStatus
from . import NetworkChecks

if TYPE_CHECKING:
    from cryptography import x509


class _Once:
    """``make()`` called once, on the first :meth:`get`, from whichever thread comes first."""

    def __init__(self, make: Callable[[], NetworkChecks]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made: NetworkChecks | None = None

    def get(self) -> NetworkChecks:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made


class _DeferredClock:
    def __init__(self, once: _Once) -> None:
        self._once = once

    def measure(self) -> ClockReading:
        """The real probe's measurement (the real probe is built on the first call)."""
        probe = self._once.get().clock
        assert probe is not None, "deferred() is only for checks with a clock probe"
        return probe.measure()


class _DeferredRevocation:
    def __init__(self, once: _Once) -> None:
        self._once = once

    def check(self, cert: x509.Certificate, issuer: x509.Certificate | None) -> RevocationStatus:
        """The real checker's answer (the real checker is built on the first call)."""
        checker = self._once.get().revocation
        assert checker is not None, "deferred() is only for checks with a revocation checker"
        return checker.check(cert, issuer)


def deferred(make: Callable[[], NetworkChecks]) -> NetworkChecks:
    """Network checks (turned on) whose clock probe and revocation checker ``make()`` builds
    when either is first used; ``make`` must return checks with both (as :func:`live` does)."""
    once = _Once(make)
    return NetworkChecks(
        enabled=True, clock=_DeferredClock(once), revocation=_DeferredRevocation(once)
    )
