"""Hostile HTTP peers on 127.0.0.1 against the fetches for OCSP, CRL, caIssuers and Date:
a trickle, endless "100 Continue", endless chunked trailers, a body over the cap, redirects
elsewhere. Every fetch ends by its one deadline, in the caller's thread, and leaves no
thread and no socket behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hostile_peers import HostilePeer

from tray.clock import SystemClock
from tray.demo import certs
from tray.model import ClockUnknown, RevocationState
from tray.net import revocation
from tray.net.http import FetchError, fetch
from tray.net.httpdate import HttpDateProbe
from tray.net.revocation import HttpRevocationChecker

NOW = datetime.now(timezone.utc)
HERE = Path(__file__).parent


@pytest.mark.parametrize(
    ("mode", "pace", "cause"),
    [
        ("trickle", 0.05, "timeout"),
        ("continue", 0.3, "timeout"),
        ("continue", 0.0, "malformed"),
        ("trailers", 0.05, "timeout"),
        ("trailers", 0.0, "malformed"),
    ],
)
def test_a_hostile_peer_ends_the_fetch_by_its_deadline_or_its_bounds(
    mode: str, pace: float, cause: str
) -> None:
    with HostilePeer(mode, pace=pace) as peer, pytest.raises(FetchError) as raised:
        fetch(peer.url, timeout=1.0, limit=1 << 20)
    assert raised.value.cause == cause


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_cap_is_refused_before_it_is_read(chunked: bool) -> None:
    if chunked:
        peer = HostilePeer("body", body=b"x" * (3 << 20), chunked=True)
    else:
        peer = HostilePeer("huge", length=10 * 2**30)
    with peer, pytest.raises(FetchError) as raised:
        fetch(peer.url, timeout=5.0, limit=1 << 20)
    assert raised.value.cause == "too_large"


@pytest.mark.parametrize(
    "location", ["ftp://127.0.0.1/ca.crl", "http://127.0.0.2:{port}/x", "https://127.0.0.1:{port}/"]
)
def test_redirects_only_to_the_same_scheme_host_and_port(location: str) -> None:
    with HostilePeer("redirect") as peer:
        peer.location = location.format(port=peer.port)
        with pytest.raises(FetchError) as raised:
            fetch(peer.url, timeout=2.0, limit=1024)
    assert raised.value.cause == "redirect"
    assert len(peer.requests) == 1


def test_a_crl_over_the_cap_is_refused_early_by_the_checker(tmp_path: Path) -> None:
    with HostilePeer("huge", length=10 * 2**30) as peer:
        cert = certs.moica_person(NOW, 300, urls=certs.Urls(crl=peer.url))
        status = HttpRevocationChecker(SystemClock(), timeout=5).check(cert, certs.moica_ca()[0])
    assert (status.state, status.cause) == (RevocationState.UNKNOWN, "too_large")


def test_two_crls_are_never_downloaded_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    active, most = [0], [0]
    lock = threading.Lock()
    real_fetch = revocation._fetch

    def counting(*args: Any, **kwargs: Any) -> bytes:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        try:
            return real_fetch(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(revocation, "_fetch", counting)
    with HostilePeer("trickle", pace=0.05) as peer:
        cert = certs.moica_person(NOW, 300, urls=certs.Urls(crl=peer.url))
        checker = HttpRevocationChecker(SystemClock(), timeout=0.6, budget=1.5)
        results: list[str] = []
        workers = [
            threading.Thread(
                target=lambda: results.append(checker.check(cert, certs.moica_ca()[0]).cause)
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert results == ["timeout", "timeout"]
    assert most[0] == 1  # the second waited for the first: one CRL in memory at a time


@pytest.fixture
def peers() -> Iterator[list[str]]:
    """Hostile peers in another process, so this process's threads and sockets are ours only."""
    child = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "hostile_peers.py"),
            "trickle:0.05",
            "continue:0.1",
            "trailers:0.05",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    urls = [child.stdout.readline().strip() for _ in range(3)]
    yield urls
    child.stdin.close()
    child.wait(timeout=10)


def sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


def test_hostile_fetches_leave_no_thread_and_no_socket_behind(peers: list[str]) -> None:
    trickle, endless_continue, trailers = peers
    before_threads, before_sockets = set(threading.enumerate()), sockets()
    checker = HttpRevocationChecker(SystemClock(), timeout=0.5, budget=3.0)
    urls = certs.Urls(ocsp=trickle, ca_issuers=trailers, crl=endless_continue)
    cert = certs.moica_person(NOW, 300, urls=urls)
    for _insertion in range(3):
        status = checker.check(cert, None)  # the issuer from caIssuers: the trailers peer
        assert (status.state, status.cause) == (RevocationState.UNKNOWN, "issuer_missing")
        assert checker.check(cert, certs.moica_ca()[0]).cause == "timeout"
        for url in peers:
            reading = HttpDateProbe(url, SystemClock(), timeout=0.5).measure()
            assert isinstance(reading, ClockUnknown)
    # Every fetch returned by its deadline, and nothing it started is still running.
    assert set(threading.enumerate()) == before_threads
    assert sockets() == before_sockets
