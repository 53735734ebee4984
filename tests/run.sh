#!/usr/bin/env bash
# The project's test command: sudo bash tests/run.sh [pytest args...]
#
# As root (and in CI) it installs the system packages, then builds .venv, lints, type-checks and
# runs pytest against the real pcscd + vpcd bench. pytest runs in private network and mount
# namespaces: vpcd listens on 0.0.0.0, which must not be reachable from outside, and a private
# /run/pcscd keeps the bench's pcscd apart from any pcscd already running on this machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages the bench and the builds of pyscard / PyKCS11 need.
APT_PACKAGES=(
    pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools
    swig gcc g++
    iproute2 util-linux
    # the tray on a real desktop (tests/desktop.py), and the build of PyGObject for [gtk]
    xvfb trayer imagemagick xdotool x11-utils
    # the SNI tray on real hosts (tests/test_tray_hosts.py): sway + waybar headless, XFCE's panel
    sway waybar grim xfce4-panel
    # GNOME Shell headless with the AppIndicator extension (the --long test of that file)
    gnome-shell gnome-shell-extension-appindicator
    # notifications: a private session bus and the real dunst (tests/test_notify_*.py)
    dbus dunst
    libgirepository1.0-dev libcairo2-dev pkg-config gir1.2-gtk-3.0 gobject-introspection
    # the HTML report in a real browser (tests/test_report_browser.py), with CJK fonts for zh_TW
    chromium fonts-noto-cjk
    # every socket call of the daemon (tests/test_resilience_network.py)
    strace
    # the XDG autostart entry is validated (tests/test_autostart.py), install.sh is linted
    desktop-file-utils shellcheck
    # a real terminal for the hostile-card test (tests/test_hostile_terminal.py)
    tmux
    # the independent card applets in jCardSim (tests/test_thirdparty_cards.py): a JRE,
    # BouncyCastle for jCardSim, yubico-piv-tool for the PIV personalisation
    openjdk-17-jre-headless libbcprov-java yubico-piv-tool
    # certificate serials compared with what OpenSSL shows (tests/test_validity.py)
    openssl
)
PYTHON=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

python_needs() {
    # Debian's python3 needs python3-venv and python3-dev; a pyenv or other build has both.
    command -v "$PYTHON" >/dev/null 2>&1 || { echo "python3 python3-venv python3-dev"; return; }
    "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 || echo python3-venv
    "$PYTHON" - <<'EOF' || echo python3-dev
import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))
EOF
}

step "system packages"
if is_root; then
    # shellcheck disable=SC2207
    extra=($(python_needs))
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
        "${APT_PACKAGES[@]}" "${extra[@]}" >/dev/null
    note "installed: ${APT_PACKAGES[*]} ${extra[*]}"
else
    note "not root: skipping apt-get (needed: ${APT_PACKAGES[*]}); the pcscd bench tests will skip"
fi

step "virtualenv .venv"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    note "created with $("$PYTHON" --version)"
fi
pip_log=$(mktemp)
if ! .venv/bin/python -m pip install --disable-pip-version-check -e '.[test,pkcs11,gtk,build]' \
    >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    rm -f "$pip_log"
    exit 1
fi
rm -f "$pip_log"
note "cardwatch installed in editable mode with [test,pkcs11,gtk,build]"

step "wheelhouse for the installer test"
# tests/test_installer.py runs installer/install.sh in the network namespace, with no index:
# pip finds Cardwatch's dependencies (and the build backend) here instead.
wheel_log=$(mktemp)
if ! .venv/bin/python -m pip wheel --disable-pip-version-check -q -w build/wheelhouse \
    '.[pkcs11,gtk]' 'setuptools>=68' wheel >"$wheel_log" 2>&1; then
    cat "$wheel_log" >&2
    rm -f "$wheel_log"
    exit 1
fi
rm -f "$wheel_log"
note "build/wheelhouse: $(find build/wheelhouse -name '*.whl' | wc -l) wheels"

step "ruff check"
.venv/bin/ruff check tray tests tools benchmarks icons
.venv/bin/ruff format --check tray tests tools benchmarks icons

step "mypy"
.venv/bin/mypy

step "pytest"
run_pytest() {
    if is_root && unshare --net --mount true 2>/dev/null; then
        note "in private network and mount namespaces"
        unshare --net --mount bash -c '
            set -e
            mkdir -p /run/pcscd
            mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
            ip link set lo up
            exec .venv/bin/python -m pytest "$@"' _ "$@"
    elif is_root && unshare --net true 2>/dev/null; then
        note "in a private network namespace (no private mount namespace: /run/pcscd is shared)"
        unshare --net bash -c 'ip link set lo up && exec .venv/bin/python -m pytest "$@"' _ "$@"
    else
        if is_root; then
            echo "WARNING: unshare is not permitted here: pytest runs in the host network" \
                "namespace, so vpcd's card ports (0.0.0.0:35963-35964) are reachable from" \
                "the network while the bench runs." >&2
        fi
        .venv/bin/python -m pytest "$@"
    fi
}
run_pytest "$@"
