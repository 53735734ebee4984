"""One card: APDUs, the guard, TLV, ATRs, certificates, the card profiles and the PKCS#11 route. No PC/SC, no files, no UI."""
