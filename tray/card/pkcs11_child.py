"""PKCS#11 reads in a child process, for the daemon.

PyKCS11 keeps the GIL during every PKCS#11 call, and a vendor module may hang or crash: in
the daemon that would freeze the tray or kill it. So each middleware read runs in a fresh
child process (``spawn``: no forked copy of the daemon's threads) with a time limit; a child
that hangs is killed and the read counts as "no reading".
"""

from __future__ import annotations

import logging
import multiprocessing
from multiprocessing.connection import Connection

from ..model import CardReading

log = logging.getLogger(__name__)


def _serve(conn: Connection, path: str, reader: str) -> None:
    """In the child: one read, its result (or the error's text) sent back."""
    from .pkcs11 import Pkcs11Source

    try:
        with Pkcs11Source(path) as source:
            conn.send(("ok", source.read(reader)))
    except Exception as exc:  # sent to the parent, which logs it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class IsolatedSource:
    """One PKCS#11 module, each read in its own child process; a Middleware for the check."""

    def __init__(self, path: str, timeout: float = 30.0, active: bool = True) -> None:
        self.name = path
        #: False: listed but never started for a card (see :func:`tray.card.pkcs11.discover`).
        self.active = active
        self._timeout = timeout

    def read(self, reader: str) -> CardReading | None:
        """The module's reading of the token in ``reader``; None when none, or on any fault."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_serve, args=(child, self.name, reader), daemon=True)
        process.start()
        child.close()
        try:
            if not parent.poll(self._timeout):
                log.warning(
                    "PKCS#11 module %s gave no answer within %.0f s; stopped it",
                    self.name,
                    self._timeout,
                )
                return None
            kind, value = parent.recv()
        except EOFError:
            log.warning("PKCS#11 module %s crashed while reading %s", self.name, reader)
            return None
        finally:
            parent.close()
            if process.is_alive():
                process.kill()
            process.join()
        if kind != "ok":
            log.warning("PKCS#11 module %s failed: %s", self.name, value)
            return None
        return value if isinstance(value, CardReading) else None


def isolated(
    paths: list[str], timeout: float = 30.0, not_asked: frozenset[str] = frozenset()
) -> list[IsolatedSource]:
    """Isolated sources for the PKCS#11 modules at ``paths`` (those in ``not_asked`` listed
    but never started)."""
    return [IsolatedSource(path, timeout, active=path not in not_asked) for path in paths]
