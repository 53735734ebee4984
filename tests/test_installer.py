"""installer/install.sh for real, into a temporary HOME: the venv path (pipx hidden by PATH).

pip's cache stays outside that HOME (PIP_CACHE_DIR), and pip installs with no index from
build/wheelhouse, which tests/run.sh fills before pytest (the tests run without a network).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "installer" / "install.sh"
WHEELHOUSE = ROOT / "build" / "wheelhouse"


def tree(home: Path) -> list[str]:
    """Every path under ``home`` (files, folders, links), relative and sorted."""
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*"))


def path_without_pipx(tmp_path: Path) -> str:
    """A PATH folder that links every command of the usual folders except pipx."""
    farm = tmp_path / "bin"
    farm.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name != "pipx" and not (farm / name).exists():
                (farm / name).symlink_to(os.path.join(folder, name))
    return str(farm)


def test_install_sh_installs_a_venv_enables_autostart_and_uninstall_leaves_home_as_it_was(
    tmp_path: Path,
) -> None:
    if not any(WHEELHOUSE.glob("*.whl")):
        assert os.environ.get("CI") != "true", "build/wheelhouse is missing (tests/run.sh)"
        pytest.skip("no build/wheelhouse: run tests/run.sh first")
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".profile").write_text("# the user's own\n", encoding="utf-8")
    (home / ".config" / "other.conf").write_text("x\n", encoding="utf-8")
    before = tree(home)
    env = {
        "HOME": str(home),
        "PATH": path_without_pipx(tmp_path),
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "LANG": "C.UTF-8",
    }
    assert shutil.which("pipx", path=env["PATH"]) is None
    done = subprocess.run(
        ["bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    data = home / ".local" / "share" / "cardwatch"
    assert "pipx not found: a venv at" in out and "cardwatch 0.1.0" in out
    assert "==> PC/SC service" in out
    cardwatch = data / "venv" / "bin" / "cardwatch"
    version = subprocess.run(
        [str(home / ".local/bin/cardwatch"), "--version"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("cardwatch ")
    entry = home / ".config" / "autostart" / "cardwatch.desktop"
    assert f"Exec={data}/venv/bin/cardwatch-tray" in entry.read_text(encoding="utf-8")
    validate = shutil.which("desktop-file-validate")
    if validate:
        for desktop in (entry, home / ".local/share/applications/cardwatch.desktop"):
            result = subprocess.run([validate, str(desktop)], capture_output=True, text=True)
            assert result.returncode == 0 and result.stdout == "", result.stdout
    assert (home / ".local/share/icons/hicolor/48x48/apps/cardwatch.png").is_file()
    status = subprocess.run(
        [str(cardwatch), "autostart", "status"], env=env, capture_output=True, text=True
    )
    assert status.returncode == 0, status.stdout
    # a second run is idempotent
    again = subprocess.run(["bash", str(INSTALL)], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    manifest = (data / "install-manifest.txt").read_text(encoding="utf-8").splitlines()
    assert len(manifest) == len(set(manifest))

    gone = subprocess.run(
        ["bash", str(INSTALL), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert tree(home) == before
    assert (home / ".profile").read_text(encoding="utf-8") == "# the user's own\n"


def test_uninstall_keeps_history_unless_purged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = home / ".local" / "share" / "cardwatch"
    data.mkdir(parents=True)
    (data / "history.jsonl").write_text("{}\n", encoding="utf-8")
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    kept = subprocess.run(
        ["bash", str(INSTALL), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert kept.returncode == 0 and "nothing to remove" in kept.stdout
    assert (data / "history.jsonl").exists()
    purged = subprocess.run(
        ["bash", str(INSTALL), "--uninstall", "--purge"], env=env, capture_output=True, text=True
    )
    assert purged.returncode == 0 and not data.exists()


def test_install_sh_is_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, str(INSTALL)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
