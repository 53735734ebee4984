"""Resilience: the daemon opens no listening socket, and no network connection when told not to.

``cardwatch run --no-tray`` runs under ``strace -f`` (every socket, bind, listen and connect
of the daemon and any child it starts, whatever library makes the call), and while it checks
cards its descriptors are compared with the kernel's socket tables (/proc/<pid>/net/*): with
``--no-network`` it creates no inet socket at all (the pcscd client's unix socket is fine);
with network checks on it still never listens. The single-instance lock is a ``flock`` on a
file (tray/store/instance.py), not a socket, so it shows up in neither check.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from bench import PcscBench
from conftest import CARD_TIMEOUT, READERS, InsertCard, _in_ci
from resilience import Cardwatch

from tray.demo import scenarios
from tray.demo.card import Fault

pytestmark = [pytest.mark.bench, pytest.mark.resilience]

SYSCALL = re.compile(r"^(?P<pid>\d+)\s+(?P<call>socket|connect|bind|listen)\((?P<args>.*)\)\s+=")
INET_TABLES = ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6")
TCP_LISTEN = "0A"
SO_ACCEPTCON = 0x00010000  # the "listening" flag in /proc/net/unix


def _strace() -> str:
    found = shutil.which("strace")
    if found is None:
        reason = "strace is not installed (apt-get install strace; tests/run.sh does)"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def family_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(family_tree(int(child)))
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def inet_sockets(pid: int, inodes: set[str]) -> list[tuple[str, str, str]]:
    """(table, local address, state) of each of ``inodes`` in the process's inet tables."""
    found = []
    for table in INET_TABLES:
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                found.append((table, fields[1], fields[3]))
    return found


def listening_unix_sockets(pid: int, inodes: set[str]) -> list[str]:
    found = []
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 7 and fields[6] in inodes and int(fields[3], 16) & SO_ACCEPTCON:
            found.append(line)
    return found


@pytest.fixture
def traced(tmp_path: Path, pcsc_bench: PcscBench) -> Iterator[tuple[Path, list[Cardwatch]]]:
    pcsc_bench.ensure_running()
    trace = tmp_path / "strace.log"
    started: list[Cardwatch] = []
    yield trace, started
    for daemon in started:
        code = daemon.stop()
        assert "Traceback" not in "\n".join(daemon.lines)
        traced_tail = trace.read_text().splitlines()[-15:] if trace.exists() else []
        assert code == 0, "\n".join([*daemon.lines[-10:], "strace:", *traced_tail])


def start_traced(trace: Path, started: list[Cardwatch], network: bool) -> Cardwatch:
    # --seccomp-bpf: only the traced calls stop a thread, so the daemon runs at its pace.
    trace_calls = ("-e", "trace=socket,connect,bind,listen")
    prefix = (_strace(), "-f", "--seccomp-bpf", "-qq", *trace_calls, "-o", str(trace))
    daemon = Cardwatch(network=network, prefix=prefix)
    started.append(daemon)
    daemon.wait_line("both readers", lambda line: "Virtual PCD 00 01: no card" in line)
    daemon.target = daemon_pid(daemon)  # SIGTERM to cardwatch; strace ends when it does
    return daemon


def daemon_pid(daemon: Cardwatch) -> int:
    """The cardwatch process under strace (strace's child)."""
    tree = family_tree(daemon.proc.pid)
    assert len(tree) >= 2, "strace has no child"
    return tree[1]


def inspect(daemon: Cardwatch) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Inet sockets and listening unix sockets held by the daemon and its children now."""
    inet: list[tuple[str, str, str]] = []
    listening: list[str] = []
    for pid in family_tree(daemon_pid(daemon)):
        try:
            inodes = socket_inodes(pid)
            inet += inet_sockets(pid, inodes)
            listening += listening_unix_sockets(pid, inodes)
        except FileNotFoundError:  # a short-lived child (a PKCS#11 probe) has just exited
            continue
    return inet, listening


def check_cards_watching_sockets(
    daemon: Cardwatch, vpcd: InsertCard, bench: PcscBench
) -> list[tuple[list[tuple[str, str, str]], list[str]]]:
    """Insert a slow card in each reader; look at the sockets mid-check and after it."""
    now = datetime.now(timezone.utc)
    cards = list(scenarios.build("default", now).values())
    seen = [inspect(daemon)]
    for slot, card in enumerate(cards[:2]):
        assert card is not None
        old = set(daemon.lines)
        plugged = vpcd(card, slot=slot, fault=Fault(delay=0.03))
        daemon.wait_line(
            "a check under way", lambda line, old=old: line not in old and "checking" in line
        )
        seen.append(inspect(daemon))  # during the check: pcscd's socket in use
        daemon.wait_line(
            "the check result", lambda line, old=old: line not in old and "state ok:" in line
        )
        seen.append(inspect(daemon))
        plugged.remove()
        bench.wait_card(READERS[slot], present=False, timeout=CARD_TIMEOUT)
    return seen


def syscalls(trace: Path) -> list[tuple[str, str]]:
    calls = []
    for line in trace.read_text().splitlines():
        match = SYSCALL.match(line)
        if match:
            calls.append((match["call"], match["args"]))
    return calls


def test_with_network_checks_off_the_daemon_makes_no_inet_socket_and_never_listens(
    traced: tuple[Path, list[Cardwatch]], vpcd: InsertCard, pcsc_bench: PcscBench
) -> None:
    trace, started = traced
    daemon = start_traced(trace, started, network=False)
    for inet, listening in check_cards_watching_sockets(daemon, vpcd, pcsc_bench):
        assert inet == [], inet
        assert listening == [], listening
    daemon.stop()
    calls = syscalls(trace)
    assert ("socket", "AF_UNIX") in {(c, a.split(",")[0]) for c, a in calls}, "pcscd unseen"
    inet = [(c, a) for c, a in calls if c == "socket" and not a.startswith("AF_UNIX")]
    assert inet == [], inet
    assert [(c, a) for c, a in calls if c in ("listen", "bind")] == []
    print(f"network off: {len(calls)} socket calls, all AF_UNIX clients, none listening")


def test_with_network_checks_on_the_daemon_still_never_listens(
    traced: tuple[Path, list[Cardwatch]], vpcd: InsertCard, pcsc_bench: PcscBench
) -> None:
    trace, started = traced
    daemon = start_traced(trace, started, network=True)
    for inet, listening in check_cards_watching_sockets(daemon, vpcd, pcsc_bench):
        assert [s for s in inet if s[0].startswith("tcp") and s[2] == TCP_LISTEN] == [], inet
        assert listening == [], listening
    daemon.stop()
    calls = syscalls(trace)
    assert [(c, a) for c, a in calls if c == "listen"] == []
    # A client may bind only to let the kernel pick the port (port 0); never to a fixed one.
    fixed = [
        a for c, a in calls if c == "bind" and "sin_port=htons(0)" not in a and "AF_UNIX" not in a
    ]
    assert fixed == [], fixed
