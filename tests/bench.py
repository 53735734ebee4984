"""The test bench: the real pcscd, run in the foreground, with the vpcd virtual readers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from smartcard import scard
from vpcd_client import READER_NAMES

RUN_DIR = Path("/run/pcscd")
PID_FILE = RUN_DIR / "pcscd.pid"
COMM_SOCKET = RUN_DIR / "pcscd.comm"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")

# "--foreground --info" keeps pcscd attached and logging to our file. Debian 12's pcsc-lite
# 1.9.9 is built without polkit and needs nothing more; builds with polkit (pcsc-lite 2.x)
# would refuse our clients when no polkitd runs, so they get --disable-polkit.
PCSCD_ARGS = ("--foreground", "--info")


class BenchError(RuntimeError):
    """The bench could not start, stop or observe pcscd."""


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


def _is(hresult: int, code: int) -> bool:
    return _code(hresult) == _code(code)


def _pcscd_command() -> list[str]:
    args = ["pcscd", *PCSCD_ARGS]
    usage = subprocess.run(["pcscd", "--help"], capture_output=True, text=True, check=False)
    if "--disable-polkit" in usage.stdout + usage.stderr:
        args.append("--disable-polkit")
    # pcscd must not outlive a crashed test run: it would keep /run/pcscd and the vpcd ports.
    # setpriv (util-linux) sets the parent-death signal and execs pcscd, with no Python code
    # between fork and exec.
    if shutil.which("setpriv"):
        return ["setpriv", "--pdeathsig", "TERM", *args]
    return args


def pcscd_pids() -> list[int]:
    """Pids of every running pcscd process on this machine."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "pcscd":
            pids.append(int(entry.name))
    return pids


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def in_our_way(pid: int) -> bool:
    """True when pcscd ``pid`` shares our /run/pcscd or our network namespace (vpcd ports)."""
    proc = Path(f"/proc/{pid}")
    try:
        if os.readlink(proc / "ns" / "net") == os.readlink("/proc/self/ns/net"):
            return True
        their_run = proc / "root" / str(RUN_DIR).lstrip("/")
        if not their_run.exists():
            return False
    except OSError:
        # Cannot look inside it (not root, or it just exited): assume the worst.
        return _pid_alive(pid)
    # tests/run.sh mounts a private /run/pcscd: a pcscd elsewhere then shares nothing with us.
    return _same_inode(their_run, RUN_DIR)


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


class PcscBench:
    """Starts, stops and kills a private pcscd and watches its readers through PC/SC."""

    def __init__(
        self,
        readers: Sequence[str] = READER_NAMES,
        ready_timeout: float = 10.0,
        log_dir: Path | None = None,
        reader_conf: Path | None = None,
    ) -> None:
        self.expected_readers = tuple(readers)
        #: a reader.conf.d directory of its own (pcscd --config); None: the system's
        self.reader_conf = reader_conf
        self.ready_timeout = ready_timeout
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="cardwatch-pcscd-"))
        self.log_path = self.log_dir / "pcscd.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """Pid of our pcscd while it runs."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """True while our pcscd process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the pcscd log (all starts of this bench)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no pcscd log)"
        return "\n".join(text.splitlines()[-lines:])

    def _refuse_foreign(self) -> None:
        ours = self._proc.pid if self._proc else None
        others = [pid for pid in pcscd_pids() if pid != ours and in_our_way(pid)]
        if others:
            raise BenchError(
                f"pcscd is already running (pid {', '.join(map(str, others))}), shares /run/pcscd "
                "or the vpcd ports with the bench, and is not ours: the bench will not touch it. "
                "Run the tests through tests/run.sh (private namespaces), or stop that pcscd "
                "(systemctl stop pcscd.socket pcscd.service, or service pcscd stop)."
            )
        if COMM_SOCKET.exists():
            if _socket_answers(COMM_SOCKET):
                raise BenchError(
                    f"{COMM_SOCKET} answers although no pcscd runs: a socket-activated system "
                    "pcscd owns it (systemctl stop pcscd.socket); the bench will not touch it."
                )
            self._remove_stale_files(None)

    def _remove_stale_files(self, old_pid: int | None) -> None:
        # Only once no pcscd holds them: a live daemon still needs its socket and pid file.
        if any(in_our_way(pid) for pid in pcscd_pids()):
            return
        try:
            recorded = int(PID_FILE.read_text().strip())
        except (OSError, ValueError):
            recorded = None
        if recorded is None or recorded == old_pid or not _pid_alive(recorded):
            PID_FILE.unlink(missing_ok=True)
        COMM_SOCKET.unlink(missing_ok=True)

    def start(self) -> None:
        """Start pcscd and return once PC/SC lists the expected readers."""
        if self.running:
            raise BenchError("the bench pcscd is already running")
        if shutil.which("pcscd") is None:
            raise BenchError("pcscd is not installed (apt-get install pcscd)")
        self._refuse_foreign()
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"----- bench start {self.starts} -----\n".encode())
            log.flush()
            command = _pcscd_command()
            if self.reader_conf is not None:
                command += ["--config", str(self.reader_conf)]
            self._proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        # Readiness is asked of the PC/SC API itself; connecting to a vpcd port would insert a card.
        deadline = time.monotonic() + self.ready_timeout
        last = "not yet asked"
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = self._proc.returncode if self._proc else None
                raise BenchError(
                    f"pcscd exited during start-up (status {code}):\n{self.log_tail()}"
                )
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hresult == scard.SCARD_S_SUCCESS:
                try:
                    hresult, readers = scard.SCardListReaders(context, [])
                finally:
                    scard.SCardReleaseContext(context)
                if hresult == scard.SCARD_S_SUCCESS and set(self.expected_readers) <= set(readers):
                    return
                last = f"readers {readers!r}" if hresult == 0 else f"list: 0x{_code(hresult):08X}"
            else:
                last = f"context: 0x{_code(hresult):08X}"
            if time.monotonic() > deadline:
                raise BenchError(
                    f"pcscd not ready after {self.ready_timeout:.0f} s ({last}); "
                    f"expected readers {self.expected_readers}.\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def ensure_running(self) -> None:
        """Start pcscd unless it already runs (a test may have stopped or killed it)."""
        if not self.running:
            self._proc = None
            self.start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Send ``sig`` to pcscd and wait for it to exit; SIGKILL if it will not."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return self.kill()
        self._remove_stale_files(proc.pid)
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL pcscd, as a crash would, then clear the pid file and socket it left behind."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # wait() reaped it, so the pid is gone; the files are stale only from here on.
        deadline = time.monotonic() + 5.0
        while _pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._remove_stale_files(proc.pid)
        return proc.returncode

    def restart(self) -> None:
        """Stop pcscd gracefully and start it again."""
        self.stop()
        self._proc = None
        self.start()

    def readers(self) -> list[str]:
        """Reader names PC/SC lists now."""
        with self._context() as context:
            hresult, readers = scard.SCardListReaders(context, [])
        if _is(hresult, scard.SCARD_E_NO_READERS_AVAILABLE):
            return []
        if hresult != scard.SCARD_S_SUCCESS:
            raise BenchError(f"SCardListReaders failed: 0x{_code(hresult):08X}")
        return list(readers)

    def reader_state(self, reader_name: str) -> tuple[int, bytes]:
        """The reader's current event state and ATR, without waiting."""
        with self._context() as context:
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(reader_name, scard.SCARD_STATE_UNAWARE)]
            )
        if hresult != scard.SCARD_S_SUCCESS:
            raise BenchError(f"SCardGetStatusChange failed: 0x{_code(hresult):08X}")
        _, state, atr = states[0]
        return state, bytes(atr)

    def wait_card(self, reader_name: str, present: bool, timeout: float) -> int:
        """Block until pcscd reports a card present (or the reader empty); return the state."""
        wanted = scard.SCARD_STATE_PRESENT if present else scard.SCARD_STATE_EMPTY
        deadline = time.monotonic() + timeout
        with self._context() as context:
            state = scard.SCARD_STATE_UNAWARE
            wait_ms = 0  # the first call, UNAWARE, only reads the current state
            while True:
                hresult, states = scard.SCardGetStatusChange(
                    context, wait_ms, [(reader_name, state & ~scard.SCARD_STATE_CHANGED)]
                )
                if _is(hresult, scard.SCARD_E_TIMEOUT):
                    break
                if hresult != scard.SCARD_S_SUCCESS:
                    raise BenchError(
                        f"SCardGetStatusChange({reader_name!r}) failed: 0x{_code(hresult):08X}"
                    )
                state = int(states[0][1])
                if state & scard.SCARD_STATE_UNKNOWN:
                    raise BenchError(f"PC/SC does not know the reader {reader_name!r}")
                if state & wanted:
                    return state
                # Passing the state back, event counter included, makes pcscd block until it
                # changes: no sleep loop.
                wait_ms = int((deadline - time.monotonic()) * 1000)
                if wait_ms <= 0:
                    break
        raise TimeoutError(
            f"{reader_name}: card {'present' if present else 'gone'} not reported within "
            f"{timeout} s (last state 0x{state:X}).\n{self.log_tail(15)}"
        )

    @contextlib.contextmanager
    def _context(self) -> Iterator[int]:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise BenchError(
                f"no PC/SC context (0x{_code(hresult):08X}); is the bench pcscd running?"
            )
        try:
            yield context
        finally:
            scard.SCardReleaseContext(context)

    def __enter__(self) -> PcscBench:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bench_unavailable() -> str | None:
    """Why the bench cannot run on this machine, or None."""
    if not hasattr(os, "geteuid") or not Path("/proc").is_dir():
        return "the pcscd + vpcd bench needs Linux"
    if os.geteuid() != 0:
        return "the pcscd + vpcd bench needs root (sudo bash tests/run.sh)"
    if shutil.which("pcscd") is None:
        return "pcscd is not installed (apt-get install pcscd)"
    if not VPCD_DRIVER.exists() or not VPCD_CONF.exists():
        return "the vpcd driver is not installed (apt-get install vsmartcard-vpcd)"
    return None
