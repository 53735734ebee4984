"""A few words for every item code, so that no code string is shown in prose.

Codes (:class:`~tray.model.Code`) are for machines: JSON, history, ``data-code``. Where a
person reads what a past check found (``status``, the report's "Last checks"), the code
becomes these words, in the user's language. A code of another version (``Code.OTHER``)
has no words here and is shown as it was stored.
"""

from __future__ import annotations

from ..i18n import N_, _
from ..model import Code

#: code → a short phrase, marked for translation (tests/test_codewords.py: every member)
WORDS: dict[Code, str] = {
    Code.OK: N_("OK"),
    Code.NOT_CHECKED: N_("not checked"),
    Code.SERVICE_NOT_RUNNING: N_("smart card service not running"),
    Code.SERVICE_NOT_INSTALLED: N_("smart card service not installed"),
    Code.NO_READER: N_("no reader"),
    Code.READER_NOT_FOUND: N_("reader not found"),
    Code.READER_UNAVAILABLE: N_("reader unavailable"),
    Code.NO_CARD: N_("no card"),
    Code.CARD_MUTE: N_("card does not answer"),
    Code.CARD_IN_USE: N_("card in use by another program"),
    Code.CARD_REMOVED: N_("card removed during the check"),
    Code.CARD_SLOW: N_("card too slow"),
    Code.TRANSMISSION_FAILED: N_("card communication failed"),
    Code.GUARD_REFUSED: N_("command refused to protect the card"),
    Code.UNRECOGNISED_LAYOUT: N_("card layout not recognised"),
    Code.INTERNAL_ERROR: N_("internal error"),
    Code.UNKNOWN_CARD: N_("unknown card"),
    Code.UNSUPPORTED_CARD: N_("unsupported card"),
    Code.CARD_ERROR: N_("card error"),
    Code.CERTIFICATE_UNREADABLE: N_("certificate unreadable"),
    Code.NO_CERTIFICATES: N_("no certificates"),
    Code.PIN_UNKNOWN: N_("PIN state unknown"),
    Code.PIN_NOT_READABLE: N_("PIN tries not readable"),
    Code.PIN_COUNT_LOW: N_("few PIN tries left"),
    Code.PIN_FINAL_TRY: N_("one PIN try left"),
    Code.PIN_LOCKED: N_("PIN locked"),
    Code.NO_CERTIFICATE: N_("no user certificate"),
    Code.NOT_YET_VALID: N_("certificate not yet valid"),
    Code.NOT_YET_VALID_SOON: N_("certificate valid soon"),
    Code.CLOCK_BEHIND: N_("computer clock behind"),
    Code.CLOCK_BEFORE_RELEASE: N_("computer clock before this release"),
    Code.EXPIRED: N_("certificate expired"),
    Code.EXPIRES_CRITICAL: N_("certificate expires within days"),
    Code.EXPIRES_URGENT: N_("certificate expires soon"),
    Code.EXPIRES_SOON: N_("certificate expires in a few weeks"),
    Code.CLOCK_SKEW: N_("computer clock wrong"),
    Code.CLOCK_TIME_ZONE: N_("time zone wrong"),
    Code.CLOCK_FLIPS_VALIDITY: N_("clock error changes certificate validity"),
    Code.CLOCK_BEFORE_CERTIFICATE: N_("clock earlier than the certificate"),
    Code.CLOCK_UNKNOWN: N_("clock not confirmed"),
    Code.CLOCK_NOT_MEASURED: N_("clock not measured"),
    Code.REVOKED: N_("certificate revoked"),
    Code.REVOCATION_UNKNOWN: N_("revocation status unknown"),
    Code.REVOCATION_NOT_CHECKED: N_("revocation not checked"),
    Code.REVOCATION_OFF: N_("revocation check off"),
}


def code_words(code: Code, stored: str | None = None) -> str:
    """``code`` in words; a code this version does not know as ``stored`` (or as it is)."""
    phrase = WORDS.get(code)
    if phrase is None:
        return stored if stored is not None else str(code)
    return _(phrase)
