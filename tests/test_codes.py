"""Item codes are one enum (tray.model.Code): what the check produces, documents and reads back."""

from __future__ import annotations

import ast
import enum
import json
import re
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import FixedClock

import tray
from tray.check.run import CheckOptions, run_check
from tray.demo import scenarios
from tray.demo.backend import SimBackend
from tray.i18n import set_language
from tray.model import (
    CheckItem,
    CheckReport,
    Code,
    StrEnum310,
    entry_from_report,
)
from tray.net import NetworkChecks
from tray.present.check_json import to_dict
from tray.store.history import entry_to_dict

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
TRAY = Path(tray.__file__).parent
README = TRAY.parent / "README.md"
#: the modules that build check items; every code must come from one of them
PRODUCERS = [
    *sorted((TRAY / "check").glob("*.py")),
    TRAY / "daemon/core.py",
    TRAY / "present/report.py",
]


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
            seen.add(item.code)
        for reader in report.readers:
            for outcome_ in entry_from_report(reader, NOW).items:
                assert type(outcome_.code) is Code
    # the scenarios reach a good part of them; the rest come from faults the tests fake
    assert {Code.OK, Code.CARD_MUTE, Code.PIN_LOCKED, Code.EXPIRED, Code.REVOKED} <= seen


def test_every_member_is_produced_by_a_check_and_documented() -> None:
    members = set(Code)
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
