"""Check items 8 and 9: validity start against this computer's clock, and days to expiry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .. import RELEASE_DATE
from ..clock import local_date, local_time
from ..i18n import _, ngettext, sentences
from ..model import Cause, CertInfo, CheckItem, Code, ItemId, Status
from .advice import renew, renew_expired


@dataclass(frozen=True)
class Thresholds:
    """Days before expiry at which the expiry item turns amber, then red."""

    warn_days: int = 60
    urgent_days: int = 30
    critical_days: int = 7
    #: A certificate starting within this window is most likely a slow clock (see README).
    not_yet_valid_grace: timedelta = timedelta(hours=24)


def release_date() -> datetime:
    """This release's date: a clock earlier than it is certainly wrong."""
    return datetime.fromisoformat(RELEASE_DATE).replace(tzinfo=timezone.utc)


def _date(moment: datetime) -> str:
    return local_date(moment)


def valid_from(certs: list[CertInfo], now: datetime, limits: Thresholds) -> CheckItem:
    """Item 8: is every user certificate's start date behind this computer's clock?"""
    pending = [c for c in certs if c.not_before > now]
    if not pending and now < release_date():
        return CheckItem(
            ItemId.VALID_FROM,
            Status.WARN,
            _(
                "This computer's clock says {now}, earlier than this software's release "
                "({release}): validity results cannot be trusted"
            ).format(now=_date(now), release=RELEASE_DATE),
            _(
                "Set the computer's date and time correctly (turn on automatic time), then check "
                "again."
            ),
            Cause.CLOCK,
            Code.CLOCK_BEFORE_RELEASE,
        )
    if not pending:
        earliest = max(c.not_before for c in certs)
        return CheckItem(
            ItemId.VALID_FROM,
            Status.PASS,
            _("Certificates valid since {date}; this computer's clock is later").format(
                date=_date(earliest)
            ),
        )
    first = min(pending, key=lambda c: c.not_before)
    wait = first.not_before - now
    if now < release_date():
        return CheckItem(
            ItemId.VALID_FROM,
            Status.FAIL,
            _(
                "Certificate '{label}' is not yet valid: it starts {date}, but this computer's clock "
                "says {now}, earlier than this software's release ({release})"
            ).format(
                label=first.label,
                date=_date(first.not_before),
                now=_date(now),
                release=RELEASE_DATE,
            ),
            _(
                "This computer's clock is wrong. Set the date and time correctly (turn on automatic "
                "time), then check again."
            ),
            Cause.CLOCK,
            Code.CLOCK_BEHIND,
        )
    if wait <= limits.not_yet_valid_grace:
        return CheckItem(
            ItemId.VALID_FROM,
            Status.WARN,
            _("Certificate '{label}' becomes valid in {hours} h ({date})").format(
                label=first.label,
                hours=max(1, round(wait.total_seconds() / 3600)),
                date=local_time(first.not_before),
            ),
            _(
                "This is almost always a computer clock running slow; a card issued today can also "
                "show it. Check the computer's date, time and time zone."
            ),
            Cause.CLOCK,
            Code.NOT_YET_VALID_SOON,
        )
    return CheckItem(
        ItemId.VALID_FROM,
        Status.FAIL,
        _(
            "Certificate '{label}' is not valid until {date}; this computer's clock says {now}"
        ).format(label=first.label, date=_date(first.not_before), now=_date(now)),
        _(
            "A certificate that is not yet valid almost always means the computer's date is wrong: "
            "check the date, time and time zone settings. If they are right, the card was issued "
            "with a future start date: ask the issuer."
        ),
        Cause.CLOCK,
        Code.NOT_YET_VALID,
    )


def expiry(
    certs: list[CertInfo], now: datetime, limits: Thresholds, issuer_service: str | None
) -> CheckItem:
    """Item 9: days until the first user certificate expires."""
    first = min(certs, key=lambda c: c.not_after)
    days = first.days_left
    until = _date(first.not_after)
    if first.not_after <= now:
        return CheckItem(
            ItemId.EXPIRY,
            Status.FAIL,
            _("Certificate '{label}' expired on {date}").format(label=first.label, date=until),
            renew_expired(issuer_service),
            Cause.CERTIFICATE,
            Code.EXPIRED,
        )
    if days == 0:
        left = _("expires today")
    else:
        left = ngettext("{days} day left", "{days} days left", days).format(days=days)
    summary = _("Certificate '{label}' expires on {date}: {left}").format(
        label=first.label, date=until, left=left
    )
    for limit, status, code in (
        (limits.critical_days, Status.FAIL, Code.EXPIRES_CRITICAL),
        (limits.urgent_days, Status.WARN, Code.EXPIRES_URGENT),
        (limits.warn_days, Status.WARN, Code.EXPIRES_SOON),
    ):
        if days <= limit:
            return CheckItem(
                ItemId.EXPIRY, status, summary, renew(issuer_service), Cause.CERTIFICATE, code
            )
    return CheckItem(ItemId.EXPIRY, Status.PASS, summary)


def judged_by_true_time(by_clock: CheckItem, by_truth: CheckItem, true_now: datetime) -> CheckItem:
    """Item 8 or 9 judged by this computer's clock and by the measured time: the worse wins.

    When the two verdicts differ, the summary says so and names the clock.
    """
    if (by_clock.status, by_clock.code) == (by_truth.status, by_truth.code):
        return by_clock
    when = local_time(true_now)
    fix = _(
        "This computer's clock is wrong: set the date and time correctly (turn on automatic "
        "time), then check again."
    )
    if by_clock.status.rank >= by_truth.status.rank:
        return replace(
            by_clock,
            summary=_(
                "{verdict}; by the measured time ({when}) this is not so: this computer's clock "
                "is wrong"
            ).format(verdict=by_clock.summary, when=when),
            advice=fix,
            cause=Cause.CLOCK,
        )
    return replace(
        by_truth,
        summary=_("{verdict} (by the measured time, {when}; this computer's clock differs)").format(
            verdict=by_truth.summary, when=when
        ),
        advice=sentences(by_truth.advice, fix) if by_truth.advice else fix,
    )
