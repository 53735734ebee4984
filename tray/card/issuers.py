"""Issuers Cardwatch knows by name, and where their card holders are sent to act."""

from __future__ import annotations

#: MOICA (內政部憑證管理中心): renewal, unlocking the PIN, revocation
MOICA_SITE = "https://moica.nat.gov.tw"
