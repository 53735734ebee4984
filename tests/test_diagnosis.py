"""The diagnosis: each rule, its minimums, and properties over random histories."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tray.daemon import diagnosis
from tray.daemon.diagnosis import (
    MIN_READER_FAILURES,
    MIN_READER_OBSERVATIONS,
    READER_WINDOW,
    RECENT_DAYS,
    Culprit,
    Outcome,
    ReaderKind,
    advice,
    confidence,
    diagnose,
    reader_kind,
    summary,
)
from tray.daemon.state import DaemonState, Phase, ReaderState, diagnosis_lines, tooltip
from tray.i18n import set_language
from tray.model import Cause, Health, HistoryEntry, ItemId, ItemOutcome, Status
from tray.notify.policy import (
    DIAGNOSIS_SLOT,
    Notice,
    NotifyLog,
    NotifySettings,
    Show,
    Withdraw,
    decide,
)
from tray.store.history import prune

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
R0 = "ACME R-100 00 00"
R1 = "Virtual PCD 00 01"
MOICA_ATR = "3BB813008131FA524348544D4F494341A5"
PIV_ATR = "3B888001504956434152443062"


@pytest.fixture(autouse=True)
def english() -> None:
    set_language("en")


def _ok(item: ItemId) -> ItemOutcome:
    return ItemOutcome(item, Status.PASS, "ok", Cause.NONE)


#: outcome kind → (failing item, code, cause)
FAILURES = {
    "transport": (ItemId.CARD_IDENTIFIED, "transmission_failed", Cause.READER),
    "removed": (ItemId.CERTIFICATES, "card_removed", Cause.CARD),
    "error": (ItemId.APPLICATION, "card_error", Cause.CARD),
    "data": (ItemId.CERTIFICATES, "certificate_unreadable", Cause.CARD),
}


def entry(
    reader: str,
    kind: str,
    minutes: float,
    number: str | None = "TP03170000012345",
    atr: str = MOICA_ATR,
) -> HistoryEntry:
    """A check ``minutes`` before NOW: good, a failure kind, 'empty' or 'service'."""
    at = NOW - timedelta(minutes=minutes)
    items = [_ok(ItemId.READER), _ok(ItemId.CARD_PRESENT)]
    card: str | None = number
    health = Health.OK
    if kind == "empty":
        items = [
            _ok(ItemId.READER),
            ItemOutcome(ItemId.CARD_PRESENT, Status.SKIP, "no_card", Cause.NONE),
        ]
        return HistoryEntry(at, reader, None, None, Health.UNKNOWN, tuple(items))
    if kind == "service":
        items = [ItemOutcome(ItemId.SERVICE, Status.FAIL, "service_not_running", Cause.SERVICE)]
        return HistoryEntry(at, reader, None, None, Health.CRITICAL, tuple(items))
    if kind in FAILURES:
        item, code, cause = FAILURES[kind]
        items.append(ItemOutcome(item, Status.FAIL, code, cause))
        health = Health.CRITICAL
        if kind != "data":
            card = atr  # the number is read after the failing stage: only the ATR is known
    else:
        items += [_ok(ItemId.CARD_IDENTIFIED), _ok(ItemId.CERTIFICATES), _ok(ItemId.EXPIRY)]
    return HistoryEntry(at, reader, card, "moica", health, tuple(items), atr=atr)


def test_one_failure_is_not_enough_evidence() -> None:
    verdict = diagnose([entry(R0, "transport", 1)], R0, NOW)
    assert verdict is not None
    assert verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE
    assert not verdict.alarming
    text = summary(verdict, NOW)
    assert "Not enough evidence yet" in text and "1 recent check on this reader" in text


def test_never_checked_reader_has_no_verdict() -> None:
    assert diagnose([entry(R1, "good", 1)], R0, NOW) is None


def test_reader_is_blamed_when_the_card_read_fine_elsewhere() -> None:
    history = [
        entry(R0, "good", 50, number="TP00000000000001"),
        entry(R0, "transport", 30),
        entry(R0, "transport", 20),
        entry(R0, "transport", 4),
        entry(R1, "good", 2),
    ]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.READER
    ev = verdict.evidence
    assert (ev.reader_checks, ev.reader_failures) == (4, 3)
    assert ev.good_elsewhere == (R1, NOW - timedelta(minutes=2))
    assert ev.same_atr_only
    assert summary(verdict, NOW) == (
        f"Reader '{R0}' is probably faulty: 3 of the last 4 checks on it failed while "
        f"transmitting; a card with the same ATR read fine on '{R1}' 2 minutes ago"
    )
    assert "another reader" in advice(verdict)
    assert confidence(verdict) == "based on 4 checks"
    assert verdict.subject == f"reader:{R0}"


def test_reader_is_blamed_when_different_cards_fail_on_it() -> None:
    history = [
        entry(R0, "transport", 30, atr=MOICA_ATR),
        entry(R0, "transport", 20, atr=PIV_ATR),
        entry(R0, "good", 10, number="TP00000000000009"),
        entry(R0, "removed", 5, atr=PIV_ATR),
    ]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.READER
    assert verdict.evidence.failing_cards == 2
    assert summary(verdict, NOW).endswith("2 different cards failed on it")


def test_one_card_failing_on_one_reader_blames_no_one() -> None:
    # The same card, failing again and again, on the only reader it has seen: either may be it.
    history = [entry(R0, "transport", m) for m in (30, 20, 10, 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE


def test_reader_is_not_blamed_below_the_minimum_of_observations() -> None:
    history = [entry(R0, "transport", 3), entry(R1, "good", 2), entry(R0, "transport", 1)]
    assert MIN_READER_OBSERVATIONS == 3
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE


def test_mostly_good_reader_is_not_blamed() -> None:
    history = [entry(R0, "good", m, number=f"TP0000000000000{m}") for m in (5, 6, 7, 8, 9)]
    history += [entry(R1, "good", 3), entry(R0, "transport", 2), entry(R0, "transport", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE


def test_card_failing_on_two_readers_is_blamed() -> None:
    history = [
        entry(R0, "error", 10, atr="3B021450"),
        entry(R1, "error", 1, atr="3B021450"),
    ]
    verdict = diagnose(history, R1, NOW)
    assert verdict is not None and verdict.culprit is Culprit.CARD
    assert verdict.evidence.failed_readers == (R0, R1)
    assert summary(verdict, NOW) == (
        "This card failed on 2 different readers: its chip may be damaged"
    )
    assert "issuer" in advice(verdict) and "protective cover" in advice(verdict)
    assert verdict.subject == "card:3B021450"


def test_card_that_reads_fine_again_on_a_reader_counts_only_where_it_still_fails() -> None:
    history = [
        entry(R0, "error", 10, atr="3B021450"),
        entry(R1, "error", 5, atr="3B021450"),
        entry(R0, "good", 3, number="3B021450", atr="3B021450"),
        entry(R1, "error", 1, atr="3B021450"),
    ]
    verdict = diagnose(history, R1, NOW)
    assert verdict is not None and verdict.culprit is not Culprit.CARD


def test_only_the_certificate_area_failing_is_card_data() -> None:
    history = [entry(R0, "data", 10), entry(R0, "data", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.CARD_DATA
    assert summary(verdict, NOW).startswith(
        "Only this card's certificate area fails (2 of 2 checks): the card answers but its "
        "data is unreadable"
    )
    assert verdict.subject == "card:TP03170000012345"


def test_certificate_area_failing_on_two_readers_is_still_card_data() -> None:
    history = [entry(R0, "data", 10), entry(R1, "data", 1)]
    verdict = diagnose(history, R1, NOW)
    assert verdict is not None and verdict.culprit is Culprit.CARD_DATA


def test_good_latest_check_is_no_fault() -> None:
    history = [entry(R0, "transport", m) for m in (30, 20, 10)] + [entry(R0, "good", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.NONE
    assert summary(verdict, NOW).startswith("No fault of the reader or the card")


def test_empty_reader_and_service_faults_are_not_evidence() -> None:
    history = [entry(R0, "transport", 30), entry(R1, "good", 25)]
    history += [entry(R0, kind, m) for kind in ("empty", "service") for m in (20, 10)]
    history += [entry(R0, "transport", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None
    assert verdict.evidence.reader_checks == 2
    assert verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE


def test_old_checks_are_no_evidence() -> None:
    old = (RECENT_DAYS + 1) * 24 * 60
    history = [entry(R0, "transport", old + m) for m in (3, 2, 1)] + [entry(R1, "good", old)]
    history += [entry(R0, "transport", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None and verdict.culprit is Culprit.NOT_ENOUGH_EVIDENCE
    assert verdict.evidence.reader_checks == 1


@pytest.mark.parametrize(
    "name",
    [
        "Windows Hello for Business 1",
        "Microsoft Virtual Smart Card 0",
        "Virtual Smart Card Reader",
        "TPM Virtual Smart Card",
    ],
)
def test_virtual_and_tpm_readers_are_never_blamed(name: str) -> None:
    history = [entry(name, "transport", m, atr=f"3B00{m:02d}") for m in range(1, 9)]
    history += [entry(R1, "good", 0.5, number=f"3B00{m:02d}", atr=f"3B00{m:02d}") for m in (1, 2)]
    verdict = diagnose(history, name, NOW)
    assert reader_kind(name) is ReaderKind.VIRTUAL
    assert verdict is not None and verdict.culprit is Culprit.NONE and not verdict.alarming
    assert "never diagnosed" in summary(verdict, NOW)


def test_vpcd_readers_are_ordinary_readers() -> None:
    assert reader_kind("Virtual PCD 00 00") is ReaderKind.ORDINARY


@pytest.mark.parametrize("name", ["Gemalto PC Pinpad 00 00", "REINER SCT cyberJack RFID"])
def test_pinpad_reader_gets_the_faq_advice(name: str) -> None:
    history = [entry(name, "transport", m) for m in (30, 20, 10)] + [entry(R1, "good", 5)]
    history += [entry(name, "transport", 1)]
    verdict = diagnose(history, name, NOW)
    assert verdict is not None and verdict.culprit is Culprit.READER
    assert verdict.reader_kind is ReaderKind.TROUBLESOME
    assert "items 2, 4, 6 and 7" in advice(verdict)


def test_severity_orders_the_culprits() -> None:
    ranks = [c.severity for c in (Culprit.NONE, Culprit.CARD_DATA, Culprit.READER, Culprit.CARD)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert Culprit.NOT_ENOUGH_EVIDENCE.severity == 0


def test_texts_are_translated() -> None:
    history = [entry(R0, "transport", m) for m in (30, 20, 10)] + [entry(R1, "good", 5)]
    history += [entry(R0, "transport", 1)]
    verdict = diagnose(history, R0, NOW)
    assert verdict is not None
    set_language("zh_TW")
    try:
        assert "讀卡機" in summary(verdict, NOW)
        assert confidence(verdict) != "based on 5 checks"
    finally:
        set_language("en")


# -- properties over random histories ------------------------------------------------------

READERS = (R0, R1, "Other Reader 02", "Windows Hello for Business 1")
CARDS = (
    ("TP00000000000001", MOICA_ATR),
    ("TP00000000000002", MOICA_ATR),
    ("PIV-0001", PIV_ATR),
    ("3B021450", "3B021450"),
)
KINDS = ("good", "good", "transport", "removed", "error", "data", "empty", "service")

events = st.lists(
    st.tuples(
        st.sampled_from(READERS),
        st.sampled_from(CARDS),
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=60 * 24 * 40),
    ),
    max_size=60,
)


def build(raw: list[tuple[str, tuple[str, str], str, int]]) -> list[HistoryEntry]:
    history = [entry(r, k, m, number=c[0], atr=c[1]) for r, c, k, m in raw]
    return sorted(history, key=lambda e: e.at)


def _evidence_count(history: list[HistoryEntry], reader: str) -> tuple[int, int]:
    """Observations and transport failures of ``reader`` in the window, counted afresh."""
    cutoff = NOW - timedelta(days=RECENT_DAYS)
    seen = [diagnosis.outcome(e) for e in history if e.reader == reader and e.at >= cutoff]
    seen = [o for o in seen if o is not None][-READER_WINDOW:]
    return len(seen), sum(1 for o in seen if o is Outcome.TRANSPORT)


@settings(max_examples=200, deadline=None)
@given(events, st.randoms(use_true_random=False))
def test_verdicts_do_not_depend_on_the_order_events_are_listed(
    raw: list[tuple[str, tuple[str, str], str, int]], shuffler: random.Random
) -> None:
    history = build(raw)
    shuffled = list(history)
    shuffler.shuffle(shuffled)
    for reader in READERS:
        assert diagnose(history, reader, NOW) == diagnose(shuffled, reader, NOW)


@settings(max_examples=200, deadline=None)
@given(events, events)
def test_unrelated_readers_and_cards_do_not_change_a_verdict(
    raw: list[tuple[str, tuple[str, str], str, int]],
    noise: list[tuple[str, tuple[str, str], str, int]],
) -> None:
    # R0 only ever sees MOICA-ATR cards; the noise is other readers with cards of other ATRs.
    mine = [(R0, CARDS[n % 2], k, m) for n, (_r, _c, k, m) in enumerate(raw)]
    unrelated = [(r, c, k, m) for r, c, k, m in noise if r != R0 and c[1] != MOICA_ATR]
    assert diagnose(build(mine), R0, NOW) == diagnose(build(mine + unrelated), R0, NOW)


@settings(max_examples=300, deadline=None)
@given(events)
def test_a_reader_is_never_blamed_below_the_minimums(
    raw: list[tuple[str, tuple[str, str], str, int]],
) -> None:
    history = build(raw)
    for reader in READERS:
        verdict = diagnose(history, reader, NOW)
        if verdict is None or verdict.culprit is not Culprit.READER:
            continue
        checks, failures = _evidence_count(history, reader)
        assert checks >= MIN_READER_OBSERVATIONS
        assert failures >= MIN_READER_FAILURES and 2 * failures >= checks
        assert verdict.evidence.reader_checks == checks
        assert reader_kind(reader) is not ReaderKind.VIRTUAL


@settings(max_examples=200, deadline=None)
@given(events)
def test_virtual_readers_never_get_an_alarm(
    raw: list[tuple[str, tuple[str, str], str, int]],
) -> None:
    verdict = diagnose(build(raw), READERS[3], NOW)
    assert verdict is None or not verdict.alarming


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(READERS),
            st.sampled_from(CARDS),
            st.sampled_from(KINDS),
            st.integers(min_value=0, max_value=60 * 24 * 500),
        ),
        max_size=120,
    ),
    st.integers(min_value=60, max_value=200),
    st.floats(min_value=1.0, max_value=400.0),
)
def test_pruning_keeps_the_evidence_of_every_verdict(
    raw: list[tuple[str, tuple[str, str], str, int]], max_entries: int, max_age: float
) -> None:
    history = build(raw)
    kept = prune(history, NOW, max_entries, max_age, keep_per_key=10)
    assert len(kept) <= max(max_entries, len(history))
    for reader in READERS:
        assert diagnose(kept, reader, NOW) == diagnose(history, reader, NOW)


def test_pruning_bounds_the_store_by_size_and_age_and_keeps_the_verdict() -> None:
    # A year of healthy checks on R1 (40 cards, only 10 of them in the last four months),
    # then a reader going bad on R0.
    history = [
        entry(R1, "good", 60 * 24 * 365 - n * 170, number=f"TP{n % (40 if n < 2000 else 10):014d}")
        for n in range(3000)
    ]
    history += [entry(R0, "transport", m) for m in (40, 30, 20, 10)]
    history += [entry(R1, "good", 5)]
    history.sort(key=lambda e: e.at)
    before = diagnose(history, R0, NOW)
    assert before is not None and before.culprit is Culprit.READER
    kept = prune(history, NOW, max_entries=500, max_age_days=90, keep_per_key=10)
    assert len(kept) <= 500
    # Past the age cap only each card's latest ten checks stay.
    old = [e for e in kept if e.at < NOW - timedelta(days=90)]
    assert old, "the cards' latest checks outlive the age cap"
    for e in old:
        assert e in [x for x in history if x.card == e.card][-10:]
    assert diagnose(kept, R0, NOW) == before


# -- what the tray and the notifications make of a verdict --------------------------------


def _reader_verdict(name: str = R0) -> diagnosis.Verdict:
    history = [entry(name, "transport", m) for m in (30, 20, 10)] + [entry(R1, "good", 5)]
    history += [entry(name, "transport", 1)]
    verdict = diagnose(history, name, NOW)
    assert verdict is not None
    return verdict


def _state(*verdicts: diagnosis.Verdict, phase: Phase = Phase.CHECKED) -> DaemonState:
    readers = tuple(ReaderState(v.reader, phase) for v in verdicts)
    return DaemonState(readers=readers, service_up=True, updated_at=NOW, diagnoses=verdicts)


class Told:
    """decide() over successive states, keeping the live notices and the log."""

    def __init__(self) -> None:
        self.live: dict[str, Notice] = {}
        self.log = NotifyLog()
        self.shown: list[Notice] = []

    def feed(self, state: DaemonState, when: datetime = NOW) -> list[Notice]:
        actions, self.log = decide(state, self.live, self.log, when, NotifySettings())
        shown = []
        for action in actions:
            if isinstance(action, Show) and action.notice.slot.startswith(DIAGNOSIS_SLOT):
                self.live[action.notice.slot] = action.notice
                shown.append(action.notice)
            elif isinstance(action, Withdraw):
                self.live.pop(action.slot, None)
        self.shown += shown
        return shown


def test_a_verdict_is_told_once_and_again_only_when_worse() -> None:
    told = Told()
    verdict = _reader_verdict()
    (notice,) = told.feed(_state(verdict))
    assert notice.slot == f"{DIAGNOSIS_SLOT}reader:{R0}"
    assert notice.title == "Card reader probably faulty"
    # The advice leads; what was found follows as far as ~200 characters allow.
    assert notice.body.startswith(advice(verdict))
    assert summary(verdict, NOW)[:40] in notice.body and len(notice.body) <= 200
    # The same verdict, a day and a week later: not told again.
    assert told.feed(_state(verdict), NOW + timedelta(days=1)) == []
    assert told.feed(_state(verdict), NOW + timedelta(days=7)) == []
    # A card whose data fails, then the same card failing everywhere: worse, told.
    data = [entry(R0, "data", 10), entry(R0, "data", 1)]
    card_data = diagnose(data, R0, NOW)
    assert card_data is not None and card_data.culprit is Culprit.CARD_DATA
    (first,) = told.feed(_state(card_data))
    # (a card whose number was read before it failed: the same key)
    failed = replace(entry(R1, "error", 0.5), card="TP03170000012345")
    card = diagnose([*data, failed], R1, NOW)
    assert card is not None and card.culprit is Culprit.CARD and card.subject == card_data.subject
    (worse,) = told.feed(_state(card))
    assert first.slot == worse.slot and worse.title == "Card probably damaged"


def test_a_cleared_reader_is_told_again_when_it_fails_again() -> None:
    told = Told()
    verdict = _reader_verdict()
    assert len(told.feed(_state(verdict))) == 1
    healthy = replace(verdict, culprit=Culprit.NONE)
    assert told.feed(_state(healthy)) == []
    assert told.live == {}  # the notice is withdrawn once the verdict is gone
    assert len(told.feed(_state(verdict), NOW + timedelta(minutes=5))) == 1


def test_virtual_readers_are_never_notified() -> None:
    name = "Windows Hello for Business 1"
    history = [entry(name, "transport", m, atr=f"3B00{m:02d}") for m in range(1, 9)]
    verdict = diagnose(history, name, NOW)
    assert verdict is not None
    assert Told().feed(_state(verdict)) == []
    assert diagnosis_lines(_state(verdict)) == []


def test_paused_notifications_hold_a_verdict_back() -> None:
    told = Told()
    verdict = _reader_verdict()
    assert told.feed(replace(_state(verdict), paused=True)) == []
    assert len(told.feed(_state(verdict))) == 1


def test_tooltip_shows_a_reader_verdict_even_when_the_reader_is_empty() -> None:
    verdict = _reader_verdict()
    assert summary(verdict, NOW) in tooltip(_state(verdict, phase=Phase.EMPTY))
    card = diagnose([entry(R0, "data", 10), entry(R0, "data", 1)], R0, NOW)
    assert card is not None
    assert summary(card, NOW) in tooltip(_state(card))
    assert summary(card, NOW) not in tooltip(_state(card, phase=Phase.EMPTY))
