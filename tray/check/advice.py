"""What to tell the user: advice texts that depend on the OS or the card's issuer."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..card.issuers import MOICA_SITE
from ..i18n import _, sentences
from ..model import Code


def service_down(platform: str | None = None) -> tuple[Code, str]:
    """(code, advice) for a PC/SC service that cannot be reached, per operating system."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return Code.SERVICE_NOT_RUNNING, _(
            "Start the Windows 'Smart Card' service (SCardSvr): run 'sc start SCardSvr' as "
            "administrator, or open services.msc. Windows also stops it while no reader is plugged "
            "in: connect the reader and check again."
        )
    if platform == "darwin":
        return Code.SERVICE_NOT_RUNNING, _(
            "macOS has the smart-card service built in: unplug and replug the reader; if that "
            "does not help, restart the computer."
        )
    installed = shutil.which("pcscd") or any(
        Path(p).exists() for p in ("/usr/sbin/pcscd", "/usr/bin/pcscd", "/sbin/pcscd")
    )
    if not installed:
        return Code.SERVICE_NOT_INSTALLED, _(
            "The PC/SC service (pcscd) is not installed. Install it: 'sudo apt install pcscd' "
            "(Debian, Ubuntu), 'sudo dnf install pcsc-lite' (Fedora), 'sudo pacman -S pcsclite' "
            "(Arch); then 'sudo systemctl enable --now pcscd.socket'."
        )
    return Code.SERVICE_NOT_RUNNING, _(
        "The PC/SC service (pcscd) is installed but not running. Start it: "
        "'sudo systemctl enable --now pcscd.socket' (or run 'sudo pcscd')."
    )


def no_reader() -> str:
    """Advice when PC/SC lists no reader at all."""
    return _(
        "Connect the card reader. If it is connected, unplug it and plug it into another USB "
        "port; check that its light comes on and that its driver is installed (most readers "
        "need only the standard CCID driver)."
    )


def card_care() -> str:
    """The MOICA FAQ's card-care advice, for contact faults."""
    return _(
        "Keep the card in a protective cover; do not bend it, put stickers on it, or wipe it "
        "with alcohol or solvents; keep it away from heat and strong magnetic fields (the chip "
        "cannot be demagnetised, but heat and force damage it)."
    )


def mute_card() -> str:
    """Advice for a card that gives no answer to reset."""
    return sentences(
        _(
            "The card does not answer. Take it out and insert it again with the gold chip facing "
            "the way the reader's symbol shows (usually chip up, chip end first), all the way in. "
            "Wipe the chip gently with a dry cloth. If it still fails, try another reader."
        ),
        card_care(),
    )


def reader_fault() -> str:
    """Advice when the reader fails while talking to a card."""
    return _(
        "The reader failed while talking to the card. Unplug the reader and plug it in again, "
        "then reinsert the card. If it keeps failing, try a reader of another model: some "
        "button-type (PIN-pad) readers fail the HiCOS inspection tool's items 2, 4, 6 and 7."
    )


def renew(issuer_service: str | None) -> str:
    """Where to renew a certificate that is still valid."""
    if issuer_service == MOICA_SITE:
        return _(
            "Renew the certificate before it expires, with the MOICA website's renewal service "
            "({site}) or at a household registration office."
        ).format(site=MOICA_SITE)
    return _("Ask the card's issuer (your IT department or certificate authority) for a renewal.")


def renew_expired(issuer_service: str | None) -> str:
    """What to do once a certificate has expired."""
    if issuer_service == MOICA_SITE:
        return _(
            "An expired certificate can no longer be renewed online: apply for a new one at a "
            "household registration office (details on {site})."
        ).format(site=MOICA_SITE)
    return _(
        "Ask the card's issuer (your IT department or certificate authority) for a new certificate."
    )


def unlock(issuer_service: str | None) -> str:
    """How a locked PIN is unlocked, and what never to do."""
    if issuer_service == MOICA_SITE:
        return _(
            "Unlock the PIN only with the MOICA website's own service ({site}); other software "
            "can lock the card for good."
        ).format(site=MOICA_SITE)
    return _(
        "Ask the card's issuer to unblock the PIN with the PUK or an administrator key; do not "
        "try more PINs or unknown tools."
    )


def final_try(issuer_service: str | None) -> str:
    """Advice when one more wrong PIN would lock the card."""
    return sentences(
        _("One more wrong PIN locks the card: enter it only when you are sure of it."),
        _("Should it lock, do not try other tools.")
        if issuer_service != MOICA_SITE
        else _(
            "Should it lock, unlock it only with the MOICA website's own service ({site})."
        ).format(site=MOICA_SITE),
    )


def revoked(issuer_service: str | None) -> str:
    """What to do about a revoked certificate."""
    if issuer_service == MOICA_SITE:
        return _(
            "A revoked certificate can never be used again: apply for a new card at a "
            "household registration office (details on {site})."
        ).format(site=MOICA_SITE)
    return _(
        "A revoked certificate cannot be used again: ask the card's issuer (your IT department "
        "or certificate authority) for a new one."
    )
