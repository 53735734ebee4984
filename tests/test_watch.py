"""The PC/SC watcher: its status request stays within what pcsc-lite accepts; against a
scripted fake of the PC/SC API it backs off across failed cycles and its stop is never lost."""

from __future__ import annotations

import logging
import threading

import pytest
from fake_scard import BLOCK, INVALID_HANDLE, NO_SERVICE, SUCCESS, FakeScard, empty_reader

from tray.daemon.events import Event, ReaderAdded, ServiceDown, ServiceUp
from tray.pcsc.watch import MAX_READER_STATES, PNP_READER, PcscWatcher, status_request


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


# -- the watcher against a scripted fake of the PC/SC event API (tests/fake_scard.py) --------


class VirtualTime:
    """The watcher's back-off pause on a fake clock: records each pause, never sleeps, and
    stops the watcher once ``window`` seconds of virtual time have passed."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.now = 0.0
        self.pauses: list[float] = []
        self.watcher: PcscWatcher | None = None

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        if self.now >= self.window and self.watcher is not None:
            self.watcher.stop()


def run_for_a_minute(fake: FakeScard) -> tuple[list[Event], VirtualTime]:
    """Run the watcher until one virtual minute has passed (or it ran away: 1,000 contexts)."""
    clock = VirtualTime(window=60.0)
    watcher = PcscWatcher(api=fake, pause=clock.pause)
    clock.watcher = watcher

    def runaway(count: int) -> None:
        if count >= 1000:
            watcher.stop()

    fake.on_establish = runaway
    events: list[Event] = []
    watcher.run(events.append)  # returns once stopped
    return events, clock


FAILING_STEPS = {
    "establish": {"establish": (NO_SERVICE,)},
    "list readers": {"list_readers": ((NO_SERVICE, []),)},
    "status change": {"status": ((INVALID_HANDLE, []),)},
}


@pytest.mark.parametrize("step", FAILING_STEPS)
def test_a_step_that_keeps_failing_backs_off_and_warns_once(
    step: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeScard(**FAILING_STEPS[step])  # type: ignore[arg-type]
    with caplog.at_level(logging.DEBUG, logger="tray.pcsc.watch"):
        events, clock = run_for_a_minute(fake)
    # 0.5 + 1 + 2 + 4, then every 5 s: about 13 tries in a minute, never thousands.
    assert fake.calls["establish"] <= 16, fake.calls
    assert fake.calls["establish"] == len(clock.pauses)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    downs = [e for e in events if isinstance(e, ServiceDown)]
    ups = [e for e in events if isinstance(e, ServiceUp)]
    assert downs and len(downs) <= fake.calls["establish"]
    if step != "status change":
        # the service never worked: one ServiceDown, and no ServiceUp at all
        assert (len(downs), len(ups)) == (1, 0)
    # every context that was established is released before the next try
    assert fake.calls["release"] == (0 if step == "establish" else fake.calls["establish"])
    fake.release_all()


def test_the_back_off_starts_over_only_after_a_cycle_that_worked() -> None:
    reader = "Fake Reader 00"
    working = (SUCCESS, [empty_reader(reader)])
    lost = (INVALID_HANDLE, [])
    # Three cycles fail at the status wait, the fourth works and is then lost, then failures.
    fake = FakeScard(status=(lost, lost, lost, working, lost, lost, lost))
    _events, clock = run_for_a_minute(fake)
    assert clock.pauses[:7] == [0.5, 1.0, 2.0, 0.5, 1.0, 2.0, 4.0]
    fake.release_all()


def test_a_stop_just_before_the_wait_is_not_lost() -> None:
    reader = "Fake Reader 00"
    # The first wait reports an empty reader; the second blocks until cancelled while blocking.
    fake = FakeScard(status=((SUCCESS, [empty_reader(reader)]), BLOCK))
    watcher = PcscWatcher(api=fake)
    stopper: list[threading.Thread] = []

    def stop_lands_first(call: int) -> None:
        if call == 2:
            # stop() comes after the watcher's last look at its flag and before the wait:
            # its first cancel finds nothing blocking, and pcsc-lite forgets it.
            stopper.append(threading.Thread(target=watcher.stop, daemon=True))
            stopper[0].start()
            assert fake.wait_for_cancel(1, timeout=30)

    fake.before_status = stop_lands_first
    events: list[Event] = []
    thread = threading.Thread(target=watcher.run, args=(events.append,), daemon=True)
    thread.start()
    thread.join(30)  # a liveness bound, far above anything a working stop needs
    stopped = not thread.is_alive()
    fake.release_all()  # let a stuck watcher go, whatever happened
    thread.join(30)
    assert stopped, "the watcher stayed in its wait after stop()"
    assert fake.calls["cancel_ignored"] >= 1  # the race really happened
    assert stopper and not stopper[0].join(30) and not stopper[0].is_alive()
    assert [type(e) for e in events] == [ServiceUp, ReaderAdded]
