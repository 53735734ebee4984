"""Words for the certificate roles Cardwatch knows, in the user's language.

A MOICA card's PKCS#15 labels and the PIV slot names say what a certificate is for; when
a label is one of these known roles it is shown translated (簽章憑證, 加密憑證, …). A label
an unknown card stores stays exactly as the card says.
"""

from __future__ import annotations

from ..i18n import N_, _

#: a known role's label, case-folded → its words, marked for translation
ROLES: dict[str, str] = {
    label.casefold(): label
    for label in (
        N_("Signature certificate"),
        N_("Encryption certificate"),
        N_("MOICA CA certificate"),
        N_("GRCA root certificate"),
        N_("PIV Authentication"),
        N_("Digital Signature"),
        N_("Key Management"),
        N_("Card Authentication"),
    )
}

#: X.509 key usage names → words
KEY_USAGES: dict[str, str] = {
    "digitalSignature": N_("digital signature"),
    "nonRepudiation": N_("non-repudiation"),
    "keyEncipherment": N_("key encipherment"),
    "dataEncipherment": N_("data encipherment"),
    "keyAgreement": N_("key agreement"),
    "keyCertSign": N_("certificate signing"),
    "cRLSign": N_("CRL signing"),
}


def role_label(label: str) -> str:
    """``label`` translated when it names a known role, else exactly as the card has it."""
    known = ROLES.get(label.strip().casefold())
    return _(known) if known is not None else label


def key_usage_words(usage: str) -> str:
    """One key usage ('digitalSignature') in words; an unknown name as it is."""
    known = KEY_USAGES.get(usage)
    return _(known) if known is not None else usage
