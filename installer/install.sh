#!/usr/bin/env bash
# Install Cardwatch for the current user (Linux, macOS), or remove what this script added.
#
#   installer/install.sh [--from WHEEL_OR_SDIST] [--no-autostart] [--systemd]
#   installer/install.sh --uninstall [--purge]
#
# It installs into an isolated environment (pipx when present, else a venv under the user
# data dir), checks the PC/SC service, adds the menu entry and icons (Linux), enables start
# at login, and writes every file and folder it added to a manifest
# (<data dir>/install-manifest.txt). --uninstall removes exactly what the manifest lists, then
# the manifest; the data dir only if this script created it and it is then empty, so history
# and settings stay unless --purge is given (which also removes Cardwatch's config, state,
# log and cache folders). pip's cache is pip's own (PIP_CACHE_DIR moves it) and is not
# counted as added. Needs no root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_tree=$(dirname "$here")
from=""
uninstall=0
purge=0
autostart=1
systemd=0

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --from) from=${2:?--from needs a wheel or sdist path}; shift ;;
        --from=*) from=${1#--from=} ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        --no-autostart) autostart=0 ;;
        --systemd) systemd=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

case "$(uname -s)" in
    Darwin)
        os=macos
        data_dir="$HOME/Library/Application Support/cardwatch"
        other_dirs=("$HOME/Library/Logs/cardwatch" "$HOME/Library/Caches/cardwatch")
        ;;
    *)
        os=linux
        data_home=${XDG_DATA_HOME:-$HOME/.local/share}
        data_dir="$data_home/cardwatch"
        other_dirs=(
            "${XDG_CONFIG_HOME:-$HOME/.config}/cardwatch"
            "${XDG_STATE_HOME:-$HOME/.local/state}/cardwatch"
            "${XDG_CACHE_HOME:-$HOME/.cache}/cardwatch"
        )
        ;;
esac
manifest="$data_dir/install-manifest.txt"
venv="$data_dir/venv"
bin_dir="$HOME/.local/bin"

# -- the manifest: one "kind<TAB>value" line per thing added, in the order added ----------

record() {
    grep -qxF "$1	$2" "$manifest" 2>/dev/null || printf '%s\t%s\n' "$1" "$2" >>"$manifest"
}

# mkdir -p that records each folder it creates (so that --uninstall removes only those)
make_dir() {
    local dir=$1 missing=()
    while [ ! -d "$dir" ]; do
        missing=("$dir" "${missing[@]+"${missing[@]}"}")
        dir=$(dirname "$dir")
    done
    for dir in "${missing[@]+"${missing[@]}"}"; do
        mkdir "$dir"
        record dir "$dir"
    done
}

uninstall_all() {
    if [ ! -f "$manifest" ]; then
        step "nothing to remove: no manifest at $manifest"
    else
        step "removing what install.sh added (manifest $manifest)"
        local lines=() i kind value
        while IFS= read -r line; do lines+=("$line"); done <"$manifest"
        for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
            kind=${lines[i]%%	*}
            value=${lines[i]#*	}
            case "$kind" in
                autostart)
                    if [ -x "$value" ]; then
                        "$value" autostart disable >/dev/null && note "start at login turned off"
                    fi
                    ;;
                pipx)
                    pipx uninstall "$value" >/dev/null && note "pipx uninstall $value"
                    ;;
                venv)
                    rm -rf -- "$value" && note "removed the venv $value"
                    ;;
                file)
                    if [ -e "$value" ] || [ -L "$value" ]; then rm -f -- "$value" && note "removed $value"; fi
                    ;;
                dir)
                    [ "$value" = "$data_dir" ] && continue # last, after the manifest
                    if rmdir -- "$value" 2>/dev/null; then note "removed the folder $value"; fi
                    ;;
            esac
        done
        local created_data_dir=0 parent
        grep -qxF "dir	$data_dir" "$manifest" && created_data_dir=1
        rm -f -- "$manifest"
        if [ "$created_data_dir" = 1 ] && rmdir -- "$data_dir" 2>/dev/null; then
            note "removed the folder $data_dir"
            # and the folders above it that install.sh created (e.g. ~/.local/share)
            for parent in "${parents_of_data_dir[@]+"${parents_of_data_dir[@]}"}"; do
                if rmdir -- "$parent" 2>/dev/null; then note "removed the folder $parent"; fi
            done
        fi
    fi
    if [ "$purge" = 1 ]; then
        local dir
        for dir in "$data_dir" "${other_dirs[@]}"; do
            if [ -e "$dir" ]; then rm -rf -- "$dir" && note "purged $dir"; fi
        done
    elif [ -d "$data_dir" ]; then
        note "kept $data_dir (history and settings; --uninstall --purge removes it)"
    fi
    step "done"
}

if [ "$uninstall" = 1 ]; then
    # folders above the data dir that install.sh created, from the manifest, deepest first
    parents_of_data_dir=()
    if [ -f "$manifest" ]; then
        while IFS=$'\t' read -r kind value; do
            if [ "$kind" = parent ]; then parents_of_data_dir=("$value" "${parents_of_data_dir[@]+"${parents_of_data_dir[@]}"}"); fi
        done <"$manifest"
    fi
    uninstall_all
    exit 0
fi

# -- install --------------------------------------------------------------------------------

# The data dir and the folders above it that do not exist yet: created first so that the
# manifest can live there; the parents are noted as "parent" (removed after the manifest).
missing_parents=()
dir=$(dirname "$data_dir")
while [ ! -d "$dir" ]; do
    missing_parents=("$dir" "${missing_parents[@]+"${missing_parents[@]}"}")
    dir=$(dirname "$dir")
done
new_data_dir=0
[ -d "$data_dir" ] || new_data_dir=1
mkdir -p "$data_dir"
for dir in "${missing_parents[@]+"${missing_parents[@]}"}"; do record parent "$dir"; done
[ "$new_data_dir" = 1 ] && record dir "$data_dir"

if [ -n "$from" ]; then
    [ -f "$from" ] || { echo "install.sh: $from is not a file" >&2; exit 2; }
    target=$(cd "$(dirname "$from")" && pwd)/$(basename "$from")
    step "installing Cardwatch from $target"
else
    [ -f "$source_tree/pyproject.toml" ] || {
        echo "install.sh: no pyproject.toml in $source_tree; give a wheel or sdist with --from" >&2
        exit 2
    }
    target=$source_tree
    step "installing Cardwatch from the source tree $target"
fi
extras="[pkcs11]"
[ "$os" = linux ] && extras="[pkcs11,gtk]"

if command -v pipx >/dev/null 2>&1; then
    note "with pipx (isolated environment, commands in pipx's bin folder)"
    pipx install --force "$target$extras" >/dev/null
    record pipx cardwatch
    cardwatch=$(command -v cardwatch || true)
    [ -n "$cardwatch" ] || cardwatch="$bin_dir/cardwatch"
else
    python=$(command -v python3 || true)
    [ -n "$python" ] || { echo "install.sh: python3 is needed (3.10 or later)" >&2; exit 1; }
    note "pipx not found: a venv at $venv (with $("$python" --version))"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    record venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -q "$target$extras"
    cardwatch="$venv/bin/cardwatch"
    make_dir "$bin_dir"
    for command in cardwatch cardwatch-tray; do
        if [ -e "$bin_dir/$command" ] && [ "$(readlink "$bin_dir/$command" || true)" != "$venv/bin/$command" ]; then
            note "left $bin_dir/$command alone: it is not ours"
            continue
        fi
        ln -sf "$venv/bin/$command" "$bin_dir/$command"
        record file "$bin_dir/$command"
        note "linked $bin_dir/$command"
    done
    case ":$PATH:" in
        *":$bin_dir:"*) ;;
        *) note "add $bin_dir to PATH to run 'cardwatch' by name" ;;
    esac
fi
note "installed: $("$cardwatch" --version)"

step "PC/SC service"
if [ "$os" = macos ]; then
    note "macOS has its PC/SC service built in (CryptoTokenKit): nothing to install"
elif command -v pcscd >/dev/null 2>&1 || [ -x /usr/sbin/pcscd ]; then
    if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled pcscd.socket >/dev/null 2>&1; then
        note "pcscd is installed and its socket is enabled"
    else
        note "pcscd is installed; if 'cardwatch check' says the service is down, enable it:"
        note "  sudo systemctl enable --now pcscd.socket"
    fi
else
    note "pcscd is NOT installed; Cardwatch needs it to see readers. Install and enable it:"
    note "  Debian/Ubuntu: sudo apt install pcscd && sudo systemctl enable --now pcscd.socket"
    note "  Fedora:        sudo dnf install pcsc-lite && sudo systemctl enable --now pcscd.socket"
    note "  Arch:          sudo pacman -S pcsclite && sudo systemctl enable --now pcscd.socket"
fi

python_of_install=$(dirname "$(readlink -f "$cardwatch")")/python
if [ "$os" = linux ]; then
    step "menu entry and icons"
    share=${XDG_DATA_HOME:-$HOME/.local/share}
    make_dir "$share/applications"
    for size in 16 22 24 32 48 64 128 256; do make_dir "$share/icons/hicolor/${size}x$size/apps"; done
    # -I: not the source tree's tray/ (the current folder), the installed one
    written=$("$python_of_install" -I - <<'PY'
import os
from pathlib import Path

from tray.autostart import current_command
from tray.autostart.xdg import install_menu_entry
from tray.ui.icons import png
from tray.daemon.state import IconState

home = Path.home()
for path in install_menu_entry(
    home, os.environ, current_command(), lambda size: png(IconState.OK, size).read_bytes()
):
    print(path)
PY
    )
    while IFS= read -r path; do
        record file "$path"
        note "wrote $path"
    done <<<"$written"
fi

if [ "$autostart" = 1 ]; then
    step "start at login"
    # the folders the entry goes into, made (and recorded) here
    if [ "$os" = macos ]; then
        make_dir "$HOME/Library/LaunchAgents"
    elif [ "$systemd" = 1 ]; then
        make_dir "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/graphical-session.target.wants"
    else
        make_dir "${XDG_CONFIG_HOME:-$HOME/.config}/autostart"
    fi
    flags=()
    [ "$systemd" = 1 ] && flags=(--systemd)
    "$cardwatch" autostart enable "${flags[@]+"${flags[@]}"}" | sed 's/^/    /'
    record autostart "$cardwatch"
fi

step "done: run 'cardwatch check' to check your card; 'installer/install.sh --uninstall' removes it again"
