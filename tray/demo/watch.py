"""An in-process event source over virtual readers: the watcher of ``cardwatch run --demo``."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from ..card.backend import CardState
from ..daemon.events import CardInserted, ReaderAdded, ServiceUp, Sink
from .card import VirtualCard


class SimWatcher:
    """Reports the demo readers and their cards once, then sleeps until stopped."""

    def __init__(self, readers: Mapping[str, VirtualCard | None]) -> None:
        self._readers = dict(readers)
        self._stopping = threading.Event()

    def run(self, sink: Sink) -> None:
        """Announce the service, every reader and every card; then wait for :meth:`stop`."""
        sink(ServiceUp())
        for reader, card in self._readers.items():
            sink(ReaderAdded(reader))
            if card is None:
                continue
            if card.atr is None:
                sink(CardInserted(reader, CardState.MUTE))
            else:
                sink(CardInserted(reader, CardState.PRESENT, card.atr))
        self._stopping.wait()

    def stop(self) -> None:
        """Make :meth:`run` return."""
        self._stopping.set()
