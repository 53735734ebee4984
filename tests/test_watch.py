"""The PC/SC watcher's status request stays within what pcsc-lite accepts."""

from __future__ import annotations

import pytest

from tray.pcsc.watch import MAX_READER_STATES, PNP_READER, status_request


@pytest.mark.parametrize("readers", [0, 1, 2, 15])
def test_below_the_limit_the_pnp_reader_is_watched_too(readers: int) -> None:
    known = {f"Reader {i:02d}": i for i in range(readers)}
    request = status_request(known, 7)
    assert request[:-1] == list(known.items())
    assert request[-1] == (PNP_READER, 7)


@pytest.mark.parametrize("readers", [16, 17, 40])
def test_at_the_limit_the_request_never_passes_pcsc_lites_sixteen(readers: int) -> None:
    known = {f"Reader {i:02d}": i for i in range(readers)}
    request = status_request(known, 7)
    assert len(request) == MAX_READER_STATES == 16
    assert PNP_READER not in dict(request)
    assert request == list(known.items())[:16]
