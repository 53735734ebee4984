"""Item 10, "computer clock": the verdict from a measured offset and offline evidence (pure).

A measurement from a time server wins over offline evidence; without one, a clock earlier
than this release, or earlier than a card certificate's start, still says the clock is
behind. An unreachable or implausible server gives an unknown (SKIP), never an alarm.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..clock import local_time
from ..i18n import _, ngettext
from ..model import (
    Cause,
    CertInfo,
    CheckItem,
    ClockMeasurement,
    ClockReading,
    ClockUnknown,
    Code,
    ItemId,
    Status,
)


@dataclass(frozen=True)
class SkewThresholds:
    """How far off the clock may be before the clock item turns amber, then red."""

    warn: timedelta = timedelta(minutes=5)
    fail: timedelta = timedelta(hours=1)
    #: an offset this close to a whole number of hours is named a time-zone mistake
    zone_tolerance: timedelta = timedelta(minutes=2)
    #: time zones differ by at most 26 hours (UTC-12 to UTC+14)
    zone_max_hours: int = 26


class Validity(enum.Enum):
    """A certificate's validity at one moment."""

    NOT_YET_VALID = "not_yet_valid"
    VALID = "valid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Flip:
    """A certificate whose verdict differs between this computer's clock and the true time."""

    cert: CertInfo
    by_clock: Validity
    by_true_time: Validity


def validity_at(cert: CertInfo, moment: datetime) -> Validity:
    """Is ``cert`` valid at ``moment``?"""
    if moment < cert.not_before:
        return Validity.NOT_YET_VALID
    if moment >= cert.not_after:
        return Validity.EXPIRED
    return Validity.VALID


def flips(certs: Sequence[CertInfo], now: datetime, true_now: datetime) -> list[Flip]:
    """User certificates whose validity verdict the clock's error turns around."""
    out = []
    for cert in certs:
        if cert.is_ca:
            continue
        mine, truth = validity_at(cert, now), validity_at(cert, true_now)
        if mine is not truth:
            out.append(Flip(cert, mine, truth))
    return out


def time_zone_hours(offset_seconds: float, limits: SkewThresholds) -> int | None:
    """The whole number of hours (n != 0) the offset is close to, if it looks like a zone slip."""
    hours = round(offset_seconds / 3600)
    if hours == 0 or abs(hours) > limits.zone_max_hours:
        return None
    if abs(offset_seconds - hours * 3600) > limits.zone_tolerance.total_seconds():
        return None
    return hours


#: A measured time further than this past the later of this release and this computer's clock
#: is not believed (a forged year 2036 or 2104 from an NTP era slip or a liar).
PLAUSIBLE_AHEAD = timedelta(days=2 * 366)
#: No offset larger than this is ever turned into a date: a forged year 9999 cannot overflow.
_MAX_OFFSET_SECONDS = 200 * 366 * 86400.0


def plausible(
    reading: ClockReading | None, release: datetime, now: datetime | None = None
) -> ClockMeasurement | None:
    """The measurement, unless there is none or its time is implausible.

    Plausible: not before this release, and not more than :data:`PLAUSIBLE_AHEAD` past the
    later of the release and this computer's clock (``now``, else the time it was measured).
    Never raises, whatever the offset (NaN, infinite, years out of range).
    """
    if not isinstance(reading, ClockMeasurement):
        return None
    offset = reading.offset_seconds
    if not math.isfinite(offset) or abs(offset) > _MAX_OFFSET_SECONDS:
        return None
    try:
        true_now = reading.measured_at + timedelta(seconds=offset)
        upper = max(now or reading.measured_at, reading.measured_at, release) + PLAUSIBLE_AHEAD
    except (OverflowError, ValueError, TypeError):
        return None
    return reading if release <= true_now <= upper else None


def trusted(
    reading: ClockReading | None, release: datetime, now: datetime | None = None
) -> ClockMeasurement | None:
    """A plausible measurement confirmed by more than one source; weak evidence is None."""
    measurement = plausible(reading, release, now)
    return measurement if measurement is not None and measurement.confirmed else None


def true_time(reading: ClockReading | None, now: datetime, release: datetime) -> datetime | None:
    """``now`` corrected by a trusted measurement, or None (never raises)."""
    measurement = trusted(reading, release, now)
    if measurement is None:
        return None
    try:
        return now + timedelta(seconds=measurement.offset_seconds)
    except (OverflowError, ValueError):
        return None


def duration(seconds: float) -> str:
    """A short, readable size of an offset: "0.3 s", "4 min 10 s", "2 h 3 min", "3 days 2 h"."""
    seconds = abs(seconds)
    if seconds < 10:
        return _("{n:.1f} s").format(n=seconds)
    whole = round(seconds)
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        if minutes == 0:
            return _("{s} s").format(s=secs)
        return _("{m} min {s} s").format(m=minutes, s=secs)
    hours, rest = divmod(whole, 3600)
    if hours < 48:
        return _("{h} h {m} min").format(h=hours, m=rest // 60)
    days, hours = divmod(hours, 24)
    return ngettext("{d} day {h} h", "{d} days {h} h", days).format(d=days, h=hours)


def _direction(offset_seconds: float) -> str:
    # offset = true time - this clock: positive means this clock shows an earlier time.
    if offset_seconds > 0:
        return _("behind")
    return _("ahead")


def _set_clock_advice() -> str:
    return _(
        "Set this computer's date and time correctly: turn on automatic time (time server "
        "time.stdtime.gov.tw) and check the time zone (Taiwan: UTC+8, Taipei), then check again."
    )


def _validity_word(state: Validity) -> str:
    return {
        Validity.NOT_YET_VALID: _("not yet valid"),
        Validity.VALID: _("valid"),
        Validity.EXPIRED: _("expired"),
    }[state]


def _source(measurement: ClockMeasurement) -> str:
    if measurement.source == "http_date":
        return _("Date header of {server}").format(server=measurement.server)
    if measurement.source == "simulated":
        return _("{server}, simulated").format(server=measurement.server)
    return measurement.server


def _measured_item(
    measurement: ClockMeasurement,
    certs: Sequence[CertInfo],
    now: datetime,
    limits: SkewThresholds,
) -> CheckItem:
    offset = measurement.offset_seconds
    size = abs(offset)
    off = duration(offset)
    source = _source(measurement)
    true_now = now + timedelta(seconds=offset)
    turned = flips(certs, now, true_now)
    zone = time_zone_hours(offset, limits) if size >= limits.warn.total_seconds() else None
    if turned:
        first = turned[0]
        return CheckItem(
            ItemId.CLOCK,
            Status.FAIL,
            _(
                "This computer's clock is {off} {direction} ({source}): by the correct time "
                "certificate '{label}' is {truth}, by this clock it is {mine}"
            ).format(
                off=off,
                direction=_direction(offset),
                source=source,
                label=first.cert.label,
                truth=_validity_word(first.by_true_time),
                mine=_validity_word(first.by_clock),
            ),
            _set_clock_advice(),
            Cause.CLOCK,
            Code.CLOCK_FLIPS_VALIDITY,
        )
    if zone is not None:
        status = Status.FAIL if size >= limits.fail.total_seconds() else Status.WARN
        return CheckItem(
            ItemId.CLOCK,
            status,
            ngettext(
                "This computer's clock is {n} hour {direction} ({source}): most likely a wrong "
                "time zone",
                "This computer's clock is {n} hours {direction} ({source}): most likely a wrong "
                "time zone",
                abs(zone),
            ).format(n=abs(zone), direction=_direction(offset), source=source),
            _(
                "Check the time zone setting first (Taiwan: UTC+8, Taipei), then the time; turn on "
                "automatic time. Certificates, logins and secure websites go by the correct time."
            ),
            Cause.CLOCK,
            Code.CLOCK_TIME_ZONE,
        )
    if size >= limits.warn.total_seconds():
        status = Status.FAIL if size >= limits.fail.total_seconds() else Status.WARN
        return CheckItem(
            ItemId.CLOCK,
            status,
            _("This computer's clock is {off} {direction} ({source})").format(
                off=off, direction=_direction(offset), source=source
            ),
            sentences_clock(),
            Cause.CLOCK,
            Code.CLOCK_SKEW,
        )
    return CheckItem(
        ItemId.CLOCK,
        Status.PASS,
        _("This computer's clock is correct (off by {off}; {source})").format(
            off=off, source=source
        ),
    )


def _weak_item(measurement: ClockMeasurement, now: datetime, limits: SkewThresholds) -> CheckItem:
    """One unconfirmed source: it may warn about the clock, never fail it or judge certificates."""
    item = _measured_item(measurement, (), now, limits)
    if item.status is Status.PASS:
        return item
    return replace(
        item,
        status=Status.WARN,
        summary=_(
            "{verdict}; only one source that could not be confirmed, so certificates are still "
            "judged by this computer's clock"
        ).format(verdict=item.summary),
    )


def sentences_clock() -> str:
    """Advice for a clock that is off by minutes or more."""
    return _(
        "A clock this far off makes card logins, signatures and secure websites fail. Set this "
        "computer's date and time correctly: turn on automatic time (time server "
        "time.stdtime.gov.tw) and check the time zone (Taiwan: UTC+8, Taipei)."
    )


def _unknown_text(reading: ClockReading | None) -> tuple[str, Code]:
    """(summary, code) when the clock could not be measured."""
    if reading is None or (isinstance(reading, ClockUnknown) and reading.cause == "off"):
        return _("Computer clock not measured: network checks are off"), Code.CLOCK_NOT_MEASURED
    if isinstance(reading, ClockMeasurement):
        if math.isfinite(reading.offset_seconds) and reading.offset_seconds < 0:
            text = _("Time server {server} gave a time before this software's release: ignored")
        else:
            text = _("Time server {server} gave an implausible time far in the future: ignored")
        return text.format(server=reading.server), Code.CLOCK_UNKNOWN
    why = {
        "unreachable": _("no time server could be reached"),
        "timeout": _("no time server answered in time"),
        "garbage": _("the time servers' answers were not valid"),
        "disagree": _("the time servers disagree"),
        "not_configured": _("no time server is configured"),
    }.get(reading.cause, reading.cause)
    tried = ", ".join(reading.tried)
    if tried:
        return (
            _("Computer clock could not be measured: {why} ({servers})").format(
                why=why, servers=tried
            ),
            Code.CLOCK_UNKNOWN,
        )
    return _("Computer clock could not be measured: {why}").format(why=why), Code.CLOCK_UNKNOWN


def clock_item(
    reading: ClockReading | None,
    certs: Sequence[CertInfo],
    now: datetime,
    release: datetime,
    limits: SkewThresholds | None = None,
) -> CheckItem:
    """Item 10 from a measurement (or why there is none) and the card certificates."""
    limits = limits or SkewThresholds()
    measurement = plausible(reading, release, now)
    if measurement is not None and measurement.confirmed:
        return _measured_item(measurement, certs, now, limits)
    if measurement is not None:
        return _weak_item(measurement, now, limits)
    summary, code = _unknown_text(reading)
    if now < release:
        behind = release - now
        status = Status.FAIL if behind >= limits.fail else Status.WARN
        return CheckItem(
            ItemId.CLOCK,
            status,
            _(
                "This computer's clock says {now}, earlier than this software's release "
                "({release}): it is at least {off} behind"
            ).format(
                now=now.strftime("%Y-%m-%d"),
                release=release.strftime("%Y-%m-%d"),
                off=duration(behind.total_seconds()),
            ),
            _set_clock_advice(),
            Cause.CLOCK,
            Code.CLOCK_BEFORE_RELEASE,
        )
    pending = [c for c in certs if not c.is_ca and c.not_before > now]
    if pending:
        first = min(pending, key=lambda c: c.not_before)
        return CheckItem(
            ItemId.CLOCK,
            Status.WARN,
            _(
                "This computer's clock is earlier than the start of certificate '{label}' "
                "({date}): the clock is probably behind"
            ).format(label=first.label, date=local_time(first.not_before)),
            _set_clock_advice(),
            Cause.CLOCK,
            Code.CLOCK_BEFORE_CERTIFICATE,
        )
    return CheckItem(ItemId.CLOCK, Status.SKIP, summary, code=code)
