"""The report as one self-contained HTML page (inline CSS, no scripts, nothing fetched).

Pure: data in, text out. Every string that comes from a card, a reader or a translation
passes :func:`.safe.html_text` (escaped, control and bidi characters shown as ``\\U202E``) —
a certificate subject may hold markup; a value that is wholly data is isolated in ``<bdi>``
so that right-to-left text in it cannot reorder Cardwatch's own words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .. import __version__
from ..card.roles import key_usage_words
from ..check.assess import card_name
from ..clock import local_date, local_time
from ..daemon.diagnosis import Culprit
from ..i18n import _, join_list, labelled, ngettext
from ..model import (
    CertInfo,
    CheckItem,
    CheckReport,
    Code,
    Health,
    HistoryEntry,
    PinStatus,
    ReaderReport,
    Status,
)
from .check_text import revocation_line, status_label
from .report_content import (
    FirstStep,
    Note,
    days_left_text,
    diagnosis_rows,
    first_step,
    general_items,
    history_rows,
    pin_state_text,
    reader_notes,
)
from .report_text import render_report_text
from .safe import html_isolated, html_text
from .words import tries_left

_HEALTH_CLASS = {
    Health.OK: "ok",
    Health.WARNING: "warning",
    Health.CRITICAL: "critical",
    Health.UNKNOWN: "unknown",
}
_LANG = {"zh_TW": "zh-Hant-TW", "en": "en"}

# Calm colours; every status also has its word, so colour is never the only signal.
_CSS = """
:root { color-scheme: light; --ink: #1f2933; --muted: #5f6b76; --line: #d9dee3; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f7f9; color: var(--ink);
  font: 15px/1.5 system-ui, "Segoe UI", "Noto Sans", "Noto Sans CJK TC", "Microsoft JhengHei",
  "PingFang TC", sans-serif; }
main { max-width: 58rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.5rem; margin: 0; }
h2 { font-size: 1.2rem; margin: 0 0 .75rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; color: var(--muted); }
.meta { color: var(--muted); margin: .25rem 0 1.25rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem 1.25rem; margin: 0 0 1rem; }
.summary { border-left: 8px solid; }
.summary .verdict { font-weight: 700; letter-spacing: .04em; margin: 0; }
.summary .headline { font-size: 1.15rem; margin: .25rem 0; }
.summary .action { margin: .5rem 0 0; }
.health-ok { border-left-color: #2e7d32; } .health-ok .verdict { color: #2e7d32; }
.health-warning { border-left-color: #c77700; } .health-warning .verdict { color: #8a5300; }
.health-critical { border-left-color: #c62828; } .health-critical .verdict { color: #b71c1c; }
.health-unknown { border-left-color: #78848f; } .health-unknown .verdict { color: #55606a; }
ol.items { list-style: none; margin: 0; padding: 0; }
ol.items li { display: grid; grid-template-columns: 2rem 4.5rem 1fr; gap: .5rem;
  padding: .45rem 0; border-top: 1px solid #eef1f3; }
ol.items li:first-child { border-top: 0; }
.num { color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; text-align: center; border-radius: 4px; font-weight: 700;
  font-size: .8rem; padding: .1rem .3rem; height: fit-content; }
.status-pass .badge { background: #e3f2e5; color: #1b5e20; }
.status-warn .badge { background: #fff1d0; color: #7a4a00; }
.status-fail .badge { background: #fde4e2; color: #a31515; }
.status-skip .badge { background: #eceff1; color: #4f5b66; }
.item-text p { margin: 0; }
.advice { color: var(--muted); margin-top: .2rem !important; }
dl.card { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3rem .5rem .3rem 0;
  border-top: 1px solid #eef1f3; overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; width: 11rem; }
table.cert { margin-bottom: .75rem; }
table.cert caption { text-align: left; font-weight: 700; padding: .25rem 0; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9rem; }
aside.note { background: #f0f5fb; border: 1px solid #cfdff0; border-radius: 8px;
  padding: .75rem 1rem; margin-top: 1rem; }
aside.note h3 { margin: 0 0 .35rem; color: #1d4f80; }
aside.note p, details.note p { margin: .35rem 0 .5rem; }
details.note { background: #f0f5fb; border: 1px solid #cfdff0; border-radius: 8px;
  padding: .5rem 1rem; }
details.note > summary { color: #1d4f80; }
table.history th { width: auto; white-space: nowrap; }
table.history td.mono, table.history td.verdict { white-space: nowrap; overflow-wrap: normal; }
.health-text-ok { color: #1b5e20; } .health-text-warning { color: #7a4a00; }
.health-text-critical { color: #a31515; } .health-text-unknown { color: #4f5b66; }
footer { color: var(--muted); font-size: .85rem; margin-top: 1.5rem; }
.summary .go { margin: .5rem 0 0; }
a.act { color: #0b57a4; font-weight: 700; }
.where { color: var(--muted); margin: -.5rem 0 .5rem; }
h2 + .where { margin-top: -.6rem; }
ul.findings { list-style: none; margin: .75rem 0 0; padding: 0; }
ul.findings li { display: grid; grid-template-columns: 4.5rem 1fr; gap: .5rem; padding: .35rem 0; }
.all-passed { color: #1b5e20; margin: .75rem 0 0; }
details { margin-top: .75rem; }
details > summary { cursor: pointer; color: var(--muted); font-weight: 600; }
details.computer, details.history { background: #fff; border: 1px solid var(--line);
  border-radius: 10px; padding: .6rem 1.25rem; margin: 0 0 1rem; }
details.ca { margin-left: .5rem; }
.support textarea { width: 100%; border: 1px solid var(--line); border-radius: 6px;
  padding: .5rem; background: #fafbfc; color: var(--ink); resize: vertical;
  font-size: .8rem; line-height: 1.35; white-space: pre-wrap; }
.support p { margin: 0 0 .5rem; color: var(--muted); }
"""


_e = html_text  # every text and attribute value: escaped, control and bidi characters shown
_bdi = html_isolated  # a value that is wholly data (reader name, card number): isolated too


def _reader_words(name: str) -> str:
    """ "Reader: {name}" with the name isolated: an RTL name cannot reverse the words."""
    return _e(_("Reader: {name}")).format(name=_bdi(name))


def _tag(tag: str, text: str) -> str:
    return f"<{tag}>{_e(text)}</{tag}>"


def _item(item: CheckItem) -> str:
    """One numbered check item (technical details: its advice is said once, above)."""
    return (
        f'<li class="item status-{item.status.value}" data-item="{int(item.item)}" '
        f'data-status="{item.status.value}" data-code="{_e(item.code)}">'
        f'<span class="num">{int(item.item)}</span>'
        f'<span class="badge">{_e(status_label(item.status))}</span>'
        f'<div class="item-text"><p class="item-summary">{_e(item.summary)}</p></div></li>'
    )


def _items(items: Iterable[CheckItem]) -> str:
    return '<ol class="items">' + "".join(_item(i) for i in items) + "</ol>"


class _Said:
    """The advice texts already on the page: each is said once."""

    def __init__(self) -> None:
        self.texts: set[str] = set()

    def first_time(self, text: str) -> bool:
        key = " ".join(text.split())
        if not key or key in self.texts:
            return False
        self.texts.add(key)
        return True


def _findings(items: Sequence[CheckItem]) -> list[CheckItem]:
    """The items that need the person: warnings and failures, or why nothing was checked."""
    bad = [i for i in items if i.status.rank >= 2]
    if bad or any(i.status is Status.PASS for i in items):
        return bad
    return [
        i
        for i in items
        if i.status is Status.SKIP and i.code not in (Code.OK, Code.NOT_CHECKED, "")
    ][:1]


def _finding(item: CheckItem, said: _Said) -> str:
    advice = ""
    if item.advice and said.first_time(item.advice):
        advice = f'<p class="advice">→ {_e(item.advice)}</p>'
    return (
        f'<li class="finding status-{item.status.value}">'
        f'<span class="badge">{_e(status_label(item.status))}</span>'
        f'<div class="item-text"><p>{_e(item.summary)}</p>{advice}</div></li>'
    )


def _finding_list(items: Sequence[CheckItem], said: _Said) -> str:
    found = _findings(items)
    if found:
        return '<ul class="findings">' + "".join(_finding(i, said) for i in found) + "</ul>"
    passed = sum(1 for i in items if i.status is Status.PASS)
    text = ngettext("The {n} check passed.", "All {n} checks passed.", passed).format(n=passed)
    return f'<p class="all-passed">✓ {_e(text)}</p>'


def _link(url: str) -> str:
    """A link Cardwatch knows (an issuer's https site), its address shown as its text."""
    shown = url.removeprefix("https://").rstrip("/")
    return f'<a class="act" href="{_e(url)}" rel="noreferrer">{_e(shown)}</a>'


def _summary(step: FirstStep, said: _Said) -> str:
    where = ""
    if step.reader is not None:
        where = f'<p class="where">{_reader_words(step.reader)}</p>'
    action = ""
    first = _("What to do first")
    if step.action:
        said.first_time(step.action)
        action = (
            f'<p class="action"><strong>{_e(labelled(first, ""))}</strong>{_e(step.action)}</p>'
        )
    link = ""
    if step.link:
        where_to = labelled(_("Where to act"), "")
        link = f'<p class="go">{_e(where_to)}{_link(step.link)}</p>'
    return (
        f'<section class="summary health-{_HEALTH_CLASS[step.health]}" id="summary">'
        f'<p class="verdict">{_e(step.verdict)}</p>'
        f'<p class="headline">{_e(step.headline)}</p>{where}{action}{link}</section>'
    )


def _rows(rows: Iterable[tuple[str, str]], mono: Sequence[str] = ()) -> str:
    out = []
    for label, value in rows:
        cls = ' class="mono"' if label in mono else ""
        out.append(f"<tr><th>{_e(label)}</th><td{cls}>{_bdi(value)}</td></tr>")
    return "".join(out)


def _cert(cert: CertInfo) -> str:
    title = _("CA certificate") if cert.is_ca else (cert.label or cert.slot)
    if cert.is_ca and cert.label:
        title = labelled(title, cert.label)
    elif cert.common_name:
        title = labelled(title, cert.common_name)
    serial = _("Serial number")
    rows = [
        (_("Subject"), cert.subject),
        (_("Issuer"), cert.issuer),
        (serial, cert.serial),
        (
            _("Valid"),
            f"{local_date(cert.not_before)} → {local_date(cert.not_after)}",
        ),
        (_("Days left"), days_left_text(cert)),
        (_("Key usage"), join_list(key_usage_words(u) for u in cert.key_usage) or "-"),
    ]
    revocation = revocation_line(cert.revocation)
    if revocation:
        rows.append((_("Revocation"), revocation))
    return (
        f'<table class="cert"><caption>{_e(title)}</caption>{_rows(rows, mono=(serial,))}</table>'
    )


#: FAQ boxes that answer a question rather than help with a fault: folded, the question shown
_BACKGROUND_NOTES = frozenset({"serial_vs_card_number"})


def _note(note: Note) -> str:
    rows = f'<table class="note-rows">{_rows(note.rows, mono=[r[0] for r in note.rows])}</table>'
    body = f"<p>{_e(note.text)}</p>{rows if note.rows else ''}"
    if note.key in _BACKGROUND_NOTES:
        return (
            f'<details class="note note-{_e(note.key)}"><summary>{_e(note.title)}</summary>'
            f"{body}</details>"
        )
    return f'<aside class="note note-{_e(note.key)}"><h3>{_e(note.title)}</h3>{body}</aside>'


def _pin_words(pin: PinStatus) -> str:
    state = pin_state_text(pin)
    if pin.tries_left is not None:
        state = f"{state} ({tries_left(pin.tries_left)})"
    return labelled(pin.label, state)


def _card_facts(reader: ReaderReport) -> list[tuple[str, str]]:
    """What a person asks first: whose card, what card, how long it lasts, the PIN."""
    facts = []
    own = [c for c in reader.certificates if not c.is_ca]
    holder = next((c.common_name for c in own if c.common_name), "")
    if holder:
        facts.append((_("Holder"), holder))
    if reader.card_type:
        facts.append((_("Card"), reader.card_type))
    if own:
        soonest = min(own, key=lambda c: c.not_after)
        until = _("{date} ({days})").format(
            date=local_date(soonest.not_after), days=days_left_text(soonest)
        )
        facts.append((_("Valid until"), until))
    if reader.pins:
        facts.append((_("PIN"), " · ".join(_pin_words(p) for p in reader.pins)))
    return facts


def _dl(facts: Iterable[tuple[str, str]]) -> str:
    return (
        '<dl class="card">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_bdi(v)}</dd>" for k, v in facts)
        + "</dl>"
    )


def _technical_title() -> str:
    return _("Technical details")


def _ca_title() -> str:
    return _("CA certificates")


def _support_title() -> str:
    return _("Copy for support")


def _technical(reader: ReaderReport) -> str:
    facts = [(_("Reader"), reader.reader)]
    if reader.card_type:
        facts.append((_("Card"), reader.card_type))
    if reader.generation:
        facts.append((_("Generation"), reader.generation))
    if reader.card_number:
        facts.append((_("IC card number"), reader.card_number))
    if reader.atr:
        facts.append(("ATR", reader.atr))
    parts = [
        f'<details class="technical"><summary>{_e(_technical_title())}</summary>',
        _dl(facts),
        _tag("h3", _("Check items")),
        _items(reader.items),
    ]
    own = [c for c in reader.certificates if not c.is_ca]
    authorities = [c for c in reader.certificates if c.is_ca]
    if own:
        parts.append(_tag("h3", _("Certificates")))
        parts += [_cert(c) for c in own]
    if reader.pins:
        parts.append(_tag("h3", _("PIN status")))
        head = "<tr>" + "".join(_tag("th", h) for h in (_("PIN"), _("State"), _("Tries left")))
        head += "</tr>"
        body = "".join(
            f'<tr class="pin pin-{p.state.value}"><td>{_bdi(p.label)}</td><td>{_e(pin_state_text(p))}</td>'
            f"<td>{_e(p.tries_left if p.tries_left is not None else '-')}</td></tr>"
            for p in reader.pins
        )
        parts.append(f'<table class="pins">{head}{body}</table>')
    if authorities:
        parts.append(
            f'<details class="ca"><summary>{_e(_ca_title())}</summary>'
            + "".join(_cert(c) for c in authorities)
            + "</details>"
        )
    parts.append("</details>")
    return "".join(parts)


def _reader(reader: ReaderReport, index: int, said: _Said) -> str:
    if reader.card_type or reader.certificates:
        heading = card_name(reader)
    elif any(i.code == Code.NO_CARD for i in reader.items):
        heading = _("No card")
    else:  # a card is there but could not be named (mute, unknown, unreadable)
        heading = _("Unknown card")
    parts = [
        f'<section class="reader" data-health="{_HEALTH_CLASS[reader.health]}" '
        f'id="reader-{index}"><h2>{_bdi(heading)}</h2>'
        f'<p class="where">{_reader_words(reader.reader)}</p>',
        _dl(_card_facts(reader)),
        _finding_list(reader.items, said),
    ]
    # The FAQ's boxes that apply to this card; one whose words were already said is left out.
    parts += [_note(n) for n in reader_notes(reader) if said.first_time(n.text)]
    parts.append(_technical(reader))
    parts.append("</section>")
    return "".join(parts)


def _computer(report: CheckReport, said: _Said) -> str:
    items = general_items(report)
    title = _("This computer")
    if _findings(items):
        return (
            f'<section class="computer" id="computer">{_tag("h2", title)}'
            f"{_finding_list(items, said)}"
            f'<details class="technical"><summary>{_e(_technical_title())}</summary>'
            f"{_items(items)}</details></section>"
        )
    ok = _("{title}: everything is fine").format(title=title)
    return (
        f'<details class="computer" id="computer"><summary>{_e(ok)}</summary>'
        f"{_items(items)}</details>"
    )


def _history(report: CheckReport, entries: Sequence[HistoryEntry]) -> str:
    readers = [r.reader for r in report.readers] or None
    rows = history_rows(entries, readers)
    if not rows:
        return ""
    title = _("Last checks")
    head = "".join(
        f"<th>{_e(h)}</th>" for h in (_("Time"), _("Reader"), _("Card"), _("Result"), _("Details"))
    )
    body = "".join(
        f'<tr class="history-row"><td class="mono">{_e(r.when)}</td><td>{_bdi(r.reader)}</td>'
        f'<td class="mono">{_bdi(r.card)}</td>'
        f'<td class="verdict health-text-{_HEALTH_CLASS[r.health]}">{_e(r.verdict)}</td>'
        f"<td>{_e(r.detail)}</td></tr>"
        for r in rows
    )
    return (
        f'<details class="history" id="history"><summary>{_e(title)}</summary>'
        f'<table class="history"><tr>{head}</tr>{body}</table></details>'
    )


def _diagnosis(report: CheckReport, entries: Sequence[HistoryEntry], said: _Said) -> str:
    # Only a culprit is news; "no fault" and "not enough evidence" would repeat the verdict.
    rows = [
        r
        for r in diagnosis_rows(report, entries)
        if r.culprit not in (Culprit.NONE.value, Culprit.NOT_ENOUGH_EVIDENCE.value)
    ]
    if not rows:
        return ""
    parts = [f'<section class="diagnosis" id="diagnosis">{_tag("h2", _("Diagnosis"))}']
    for row in rows:
        parts.append(
            f'<div class="diagnosis-row culprit-{_e(row.culprit)}">'
            f"<h3>{_bdi(row.reader)}</h3>{_tag('p', row.summary)}"
        )
        if row.confidence:
            parts.append(f'<p class="confidence">{_e(row.confidence)}</p>')
        if row.advice and said.first_time(row.advice):
            parts.append(f'<p class="advice">{_e(row.advice)}</p>')
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _support(report: CheckReport, history: Sequence[HistoryEntry]) -> str:
    """The whole check as plain text, ready to select and paste into an e-mail."""
    text = render_report_text(report, history).rstrip("\n")
    # Each line is already terminal-safe; escaping per line keeps the newlines.
    body = "\n".join(_e(line) for line in text.split("\n"))
    rows = min(12, text.count("\n") + 2)
    hint = _("Select the text below and paste it into your message to support.")
    return (
        f'<section class="support" id="support">{_tag("h2", _support_title())}'
        f"{_tag('p', hint)}"
        f'<textarea class="mono" readonly rows="{rows}" spellcheck="false">{body}</textarea>'
        "</section>"
    )


def render_html(report: CheckReport, history: Sequence[HistoryEntry] = ()) -> str:
    """The whole report as an HTML document."""
    when = local_time(report.checked_at)
    title = _("Cardwatch card health report")
    meta = _("Cardwatch {version} · checked {when}").format(version=__version__, when=when)
    said = _Said()
    body = [
        f'<header><h1>{_e(title)}</h1><p class="meta">{_e(meta)}</p></header>',
        _summary(first_step(report), said),
    ]
    body.append(_computer(report, said))
    body += [_reader(r, n, said) for n, r in enumerate(report.readers)]
    body.append(_diagnosis(report, history, said))
    body.append(_history(report, history))
    body.append(_support(report, history))
    footer = _("Cardwatch reads cards read-only: it never asks for, sends or tests your PIN.")
    body.append(f"<footer>{_e(footer)}</footer>")
    lang = _LANG.get(report.language, "en")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Defence in depth: even markup that slipped past escaping could not run or fetch.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>{_e(title)} · {_e(when)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
