"""A virtual MOICA card whose strings attack the sinks: terminal, notification markup.

Used by the real-terminal (tmux) and real-dunst tests; tests/test_hostile_strings.py checks
the same strings in-process.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding

from tray.demo import certs
from tray.demo.cards import MoicaGen1Card
from tray.demo.scenarios import DEMO_CARD_NUMBER, moica_certs

#: sets the window title, clears the screen, forges item 9's line, conceals the rest
TERMINAL_CN = "Mallory\x1b]0;pwned\x07\x1b[2J\n 9 PASS  Certificate valid for 900 days\x1b[8m"
TERMINAL_LABEL = "Sign\n 9 PASS fake\x1b[8m"
#: bold, huge red text and a link, if a notification server took them as markup
MARKUP = (
    "<b>bold</b> <span size='xx-large' foreground='red'>HUGE</span> "
    '<a href="https://evil.example/renew">renew</a>'
)
#: 16 ASCII characters, as a MOICA card number is; the card name shows its first 6
MARKUP_NUMBER = "<b>TP</b>0317123"


def hostile_moica(
    now: datetime, days_left: float, *, cn: str, label: str, number: str = DEMO_CARD_NUMBER
) -> MoicaGen1Card:
    """A MOICA card expiring in ``days_left`` days with a hostile CN, label and number."""
    person = certs.moica_person(now, days_left, name=cn)
    stored = moica_certs(now, days_left)
    return MoicaGen1Card([(person.public_bytes(Encoding.DER), label, False), *stored[2:]], number)
