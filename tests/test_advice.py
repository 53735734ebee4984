"""Per-OS advice for a PC/SC service that cannot be reached."""

from __future__ import annotations

import pytest

from tray.check import advice


def test_windows_names_the_smart_card_service() -> None:
    code, text = advice.service_down("win32")
    assert code == "service_not_running"
    assert "SCardSvr" in text


def test_macos_says_the_service_is_built_in() -> None:
    code, text = advice.service_down("darwin")
    assert code == "service_not_running"
    assert "built in" in text


def test_linux_tells_missing_from_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(advice.shutil, "which", lambda name: None)
    monkeypatch.setattr(advice.Path, "exists", lambda self: False)
    code, text = advice.service_down("linux")
    assert code == "service_not_installed"
    assert "apt install pcscd" in text
    monkeypatch.setattr(advice.shutil, "which", lambda name: "/usr/sbin/pcscd")
    code, text = advice.service_down("linux")
    assert code == "service_not_running"
    assert "systemctl enable --now pcscd.socket" in text
