"""Item codes are one enum (tray.model.Code): what the check produces, documents and reads back."""

from __future__ import annotations

import ast
import enum
import json
import re
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import FixedClock

import tray
from tray.check.run import CheckOptions, run_check
from tray.cli import main
from tray.daemon.diagnosis import Outcome, outcome
from tray.daemon.state import DaemonState, Phase, ReaderState
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.i18n import set_language
from tray.model import (
    CheckItem,
    CheckReport,
    Code,
    ItemId,
    ItemOutcome,
    StrEnum310,
    entry_from_report,
)
from tray.net import NetworkChecks
from tray.present.check_json import to_dict
from tray.present.status import entry_line, item_from_dict
from tray.store.history import History, entry_from_dict, entry_to_dict, history_path, state_path

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
TRAY = Path(tray.__file__).parent
README = TRAY.parent / "README.md"
#: the modules that build check items; every code must come from one of them
PRODUCERS = [
    *sorted((TRAY / "check").glob("*.py")),
    TRAY / "daemon/core.py",
    TRAY / "present/report.py",
]
#: a code no version of Cardwatch has produced (yet)
UNKNOWN = "card_cracked"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")


def all_items(report: CheckReport) -> list[CheckItem]:
    general = [i for i in (report.service, report.reader_item, report.clock) if i is not None]
    return general + [i for r in report.readers for i in r.items]


def scenario_reports() -> Iterator[tuple[str, CheckReport]]:
    """Every demo scenario, without network checks, with the demo's network, and offline."""
    for name in scenarios.SCENARIOS:
        clock = FixedClock(NOW)
        for label, network in (
            ("none", None),
            ("demo", scenarios.network(name, NOW)),
            ("off", NetworkChecks.off()),
        ):
            options = CheckOptions(network=network)
            backend = SimBackend(scenarios.build(name, NOW))
            yield f"{name}/{label}", run_check(backend, clock, options)


def produced_in_source() -> set[Code]:
    """The members the item-building modules name (``Code.X``)."""
    names: set[str] = set()
    for path in PRODUCERS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "Code":
                names.add(node.attr)
    # a passing item's code is the default
    default = next(f.default for f in fields(CheckItem) if f.name == "code")
    return {Code[n] for n in names} | {Code(default)}


def documented() -> list[str]:
    """The codes the README lists for the JSON's items."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r'"code": "([a-z_|\s/]+)"', text)
    assert block is not None, "the README lists the item codes"
    return [c.strip(" /\n") for c in block.group(1).split("|")]


def test_every_code_a_scenario_produces_is_a_member() -> None:
    seen: set[Code] = set()
    for where, report in scenario_reports():
        for item in all_items(report):
            assert type(item.code) is Code, (where, item)
            assert item.code is not Code.OTHER, (where, item)
            seen.add(item.code)
        for reader in report.readers:
            for outcome_ in entry_from_report(reader, NOW).items:
                assert type(outcome_.code) is Code and outcome_.raw_code is None
    # the scenarios reach a good part of them; the rest come from faults the tests fake
    assert {Code.OK, Code.CARD_MUTE, Code.PIN_LOCKED, Code.EXPIRED, Code.REVOKED} <= seen


def test_every_member_is_produced_by_a_check_and_documented() -> None:
    members = set(Code) - {Code.OTHER}
    assert produced_in_source() == members
    listed = documented()
    assert len(listed) == len(set(listed))
    assert set(listed) == {c.value for c in members}


def test_members_are_distinct_lower_case_names_of_themselves() -> None:
    assert len({c.value for c in Code}) == len(Code)
    for code in Code:
        assert code.value == code.name.lower()
        assert code == code.value and str(code) == code.value and f"{code}" == code.value
        # plain strings find members in sets and tables, and members find plain strings
        assert code.value in {code} and code in {code.value} and hash(code) == hash(code.value)


def test_json_keeps_codes_as_plain_strings() -> None:
    for where, report in scenario_reports():
        text = json.dumps(to_dict(report), ensure_ascii=False, indent=2)
        assert "Code." not in text, where
        for item in all_items(report):
            assert f'"code": "{item.code.value}"' in text, where
    document = json.loads(json.dumps(to_dict(next(scenario_reports())[1])))
    assert all(type(i["code"]) is str for i in document["readers"][0]["items"])


def test_history_entries_store_codes_as_plain_strings() -> None:
    (reader,) = run_check(SimBackend(scenarios.build("pin-locked", NOW)), FixedClock(NOW)).readers
    stored = entry_to_dict(entry_from_report(reader, NOW))
    assert stored["items"]["7"] == ["fail", "pin_locked", "pin"]
    assert '"7":["fail","pin_locked","pin"]' in json.dumps(stored, separators=(",", ":"))
    assert all(type(code) is str for _status, code, _cause in stored["items"].values())


def test_the_python_310_fallback_behaves_like_strenum() -> None:
    class Colour(StrEnum310):
        RED = "red"

    assert Colour.RED == "red" and isinstance(Colour.RED, str)
    assert str(Colour.RED) == "red" and f"{Colour.RED}" == "red"
    assert f"{Colour.RED:>5}" == "  red" and f"[{Colour.RED}]" == "[red]"
    assert json.dumps({"code": Colour.RED}) == '{"code": "red"}'
    assert {"red": 1}[Colour.RED] == 1 and "red" in {Colour.RED}
    assert Colour("red") is Colour.RED
    assert issubclass(Colour, enum.Enum)


# -- codes this version does not know (files written by another version) -----------------------


def stored_entry(code: str) -> dict[str, object]:
    return {
        "at": "2026-12-01T12:00:00Z",
        "reader": "Reader 0",
        "card": "TP03170000012345",
        "kind": "moica",
        "health": "critical",
        "items": {
            "2": ["pass", "ok", "none"],
            "3": ["pass", "ok", "none"],
            "6": ["fail", code, "card"],
        },
        "days_left": 412,
        "pins": [["User PIN", None]],
        "atr": "3BB8",
    }


def test_parse_gives_other_for_a_code_this_version_does_not_know() -> None:
    assert Code.parse("card_mute") is Code.CARD_MUTE
    assert Code.parse(UNKNOWN) is Code.OTHER
    assert Code.parse("other") is Code.OTHER


def test_a_history_entry_with_an_unknown_code_stays_readable_and_round_trips() -> None:
    stored = stored_entry(UNKNOWN)
    entry = entry_from_dict(stored)
    six = entry.items[-1]
    assert six == ItemOutcome(ItemId.CERTIFICATES, six.status, Code.OTHER, six.cause, UNKNOWN)
    assert six.code_text == UNKNOWN
    assert entry_to_dict(entry) == stored
    assert json.dumps(entry_to_dict(entry)) == json.dumps(stored)
    assert f"({UNKNOWN})" in entry_line(entry)
    # Not evidence about the reader or the card: as with any code the diagnosis does not list.
    assert outcome(entry) is Outcome.GOOD
    known = entry_from_dict(stored_entry("card_mute"))
    assert known.items[-1].raw_code is None and outcome(known) is Outcome.TRANSPORT
    assert entry_from_dict(stored_entry("other")).items[-1].raw_code is None


def test_a_state_item_with_an_unknown_code_reads_as_other() -> None:
    item = item_from_dict(
        {"number": 6, "key": "certificates", "status": "fail", "summary": "Cracked",
         "advice": "Replace it", "cause": "card", "code": UNKNOWN}
    )  # fmt: skip
    assert (item.code, item.summary, item.advice) == (Code.OTHER, "Cracked", "Replace it")


def test_status_shows_files_with_unknown_codes_and_keeps_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (reader,) = run_check(SimBackend(scenarios.build("pin-locked", NOW)), FixedClock(NOW)).readers
    with History(history_path(), FixedClock(NOW)) as history:
        history.record(reader, NOW)
        state = DaemonState(service_up=True, updated_at=NOW)
        history.save_state(
            state.with_reader(ReaderState(reader.reader, Phase.CHECKED, reader, NOW))
        )
    written = history_path().read_text(encoding="utf-8").replace('"pin_locked"', f'"{UNKNOWN}"')
    history_path().write_text(written, encoding="utf-8")
    state_text = state_path().read_text(encoding="utf-8").replace('"pin_locked"', f'"{UNKNOWN}"')
    state_path().write_text(state_text, encoding="utf-8")

    assert main(["status"]) == 3  # a stopped daemon's state: unknown
    out = capsys.readouterr().out
    assert f"critical ({UNKNOWN})" in out and "unusable" not in out
    main(["status", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert document["recent"][0]["items"]["7"] == ["fail", UNKNOWN, "pin"]
    items = document["state"]["readers"][0]["report"]["items"]
    assert [i["code"] for i in items if i["number"] == 7] == [UNKNOWN]
    # Recording more keeps the entry as it was read.
    with History(history_path(), FixedClock(NOW)) as history:
        history.record(reader, NOW + timedelta(minutes=1))
    entries = json.loads(history_path().read_text(encoding="utf-8"))["entries"]
    assert [e["items"]["7"][1] for e in entries] == [UNKNOWN, "pin_locked"]
    assert not list(history_path().parent.glob("*.corrupt-*"))
