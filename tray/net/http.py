"""A small HTTP/1.1 client with one deadline for the whole transfer, for OCSP, CRL and Date.

urllib's timeout limits each ``recv``, not the transfer: a peer that trickles a byte a second,
sends ``100 Continue`` for ever or never ends its chunked trailers keeps it (and the thread
it runs in) busy for ever. Here every socket operation gets only the time left until one
deadline, so :func:`fetch` returns or raises by then, in the caller's thread:

- interim (1xx) responses, header lines and trailer lines are counted and bounded;
- a body larger than ``limit`` is refused as soon as that is known (Content-Length) or the
  moment the limit is crossed, never read to the end;
- redirects are followed only to the same scheme, host and port, and only a few times.

Names are looked up in a helper thread (the system resolver cannot be interrupted); at most
:data:`MAX_LOOKUPS` lookups run at once, so a hung resolver cannot make threads pile up.
IP literals need no lookup at all.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

#: interim (1xx) responses accepted before the final one
MAX_INTERIM = 4
#: header (or trailer) lines, and the size of one line
MAX_HEADER_LINES = 100
MAX_LINE = 8192
#: redirects followed (same scheme, host and port only)
MAX_REDIRECTS = 3
#: name lookups running at once, process-wide
MAX_LOOKUPS = 4

_lookups = threading.BoundedSemaphore(MAX_LOOKUPS)


class FetchError(Exception):
    """A failed transfer: ``cause`` is a stable code, ``detail`` says why.

    Causes: "timeout", "unreachable", "http_error", "malformed", "too_large", "redirect".
    """

    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


@dataclass(frozen=True)
class Response:
    """A final response: status, headers (lower-case names, the last one wins) and body."""

    status: int
    headers: dict[str, str]
    body: bytes
    #: time.monotonic() just before the request was sent, and when its status line came
    sent_at: float = 0.0
    answered_at: float = 0.0
    url: str = ""
    interim: int = field(default=0)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise FetchError("timeout", f"no complete answer within {self.seconds:g} s")
        return remaining


def _resolve(
    host: str, port: int, deadline: _Deadline, kind: int = socket.SOCK_STREAM
) -> list[tuple[int, tuple[object, ...]]]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_NUMERICHOST)
        return [(info[0], info[4]) for info in infos]
    if not _lookups.acquire(timeout=deadline.left()):
        raise FetchError("timeout", f"{host}: name lookups are all busy")
    answers: queue.Queue[list[tuple[int, tuple[object, ...]]] | BaseException] = queue.Queue()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=kind)
            answers.put([(info[0], info[4]) for info in infos])
        except BaseException as exc:  # handed to the caller
            answers.put(exc)
        finally:
            _lookups.release()

    threading.Thread(target=lookup, name=f"lookup {host}", daemon=True).start()
    try:
        result = answers.get(timeout=deadline.left())
    except queue.Empty:
        raise FetchError("timeout", f"{host}: name lookup took too long") from None
    if isinstance(result, BaseException):
        raise FetchError("unreachable", f"{host}: name lookup failed ({result})")
    return result


class _Reader:
    """Reads lines and bodies from a socket, never past the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._buffer = bytearray()
        self.eof = False

    def _fill(self) -> None:
        self._sock.settimeout(self._deadline.left())
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise FetchError(
                "timeout", f"no complete answer within {self._deadline.seconds:g} s"
            ) from None
        if not data:
            self.eof = True
        self._buffer += data

    def line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                if end > MAX_LINE:
                    raise FetchError("malformed", "a header line is too long")
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line.rstrip(b"\r\n")
            if len(self._buffer) > MAX_LINE:
                raise FetchError("malformed", "a header line is too long")
            if self.eof:
                raise FetchError("malformed", "the connection closed in the middle of a line")
            self._fill()

    def exactly(self, size: int, out: list[bytes]) -> None:
        while size > 0:
            if not self._buffer:
                if self.eof:
                    raise FetchError("malformed", "the connection closed before the end")
                self._fill()
                continue
            take = min(size, len(self._buffer))
            out.append(bytes(self._buffer[:take]))
            del self._buffer[:take]
            size -= take

    def to_end(self, limit: int, out: list[bytes]) -> None:
        total = 0
        while True:
            if self._buffer:
                total += len(self._buffer)
                if total > limit:
                    raise FetchError("too_large", f"answer larger than {limit} bytes")
                out.append(bytes(self._buffer))
                self._buffer.clear()
            if self.eof:
                return
            self._fill()


def _headers(reader: _Reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _count in range(MAX_HEADER_LINES + 1):
        line = reader.line()
        if not line:
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise FetchError("malformed", "a header line without a colon")
        headers[name.strip().lower()] = value.strip()
    raise FetchError("malformed", f"more than {MAX_HEADER_LINES} header or trailer lines")


def _status(line: bytes) -> int:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise FetchError("malformed", "not an HTTP response")
    return int(parts[1])


def _body(reader: _Reader, headers: dict[str, str], limit: int) -> bytes:
    out: list[bytes] = []
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_text = reader.line().split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise FetchError("malformed", "a bad chunk size") from None
            if size == 0:
                _headers(reader)  # the trailers: bounded like headers, then ignored
                break
            total += size
            if total > limit:
                raise FetchError("too_large", f"answer larger than {limit} bytes")
            reader.exactly(size, out)
            if reader.line():
                raise FetchError("malformed", "a chunk without its line end")
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise FetchError("malformed", "a bad Content-Length") from None
        if length < 0:
            raise FetchError("malformed", "a bad Content-Length")
        if length > limit:
            raise FetchError("too_large", f"answer of {length} bytes, more than {limit}")
        reader.exactly(length, out)
    else:
        reader.to_end(limit, out)
    body = b"".join(out)
    out.clear()
    return body


def _once(
    url: str,
    method: str,
    data: bytes | None,
    content_type: str | None,
    deadline: _Deadline,
    limit: int,
    context: ssl.SSLContext | None,
) -> Response:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("unreachable", f"not an http(s) URL: {url}")
    host = parts.hostname
    if not host:
        raise FetchError("unreachable", f"no host in {url}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchError("unreachable", f"bad port in {url}") from None
    addresses = _resolve(host, port, deadline)
    sock: socket.socket | None = None
    failure: OSError | None = None
    for family, address in addresses:
        candidate = socket.socket(family, socket.SOCK_STREAM)
        try:
            candidate.settimeout(deadline.left())
            candidate.connect(address)
        except FetchError:
            candidate.close()
            raise
        except TimeoutError:
            candidate.close()
            raise FetchError("timeout", f"{host}: no connection in time") from None
        except OSError as exc:
            candidate.close()
            failure = exc
            continue
        sock = candidate
        break
    if sock is None:
        raise FetchError("unreachable", f"{host}: {failure or 'no address'}")
    try:
        if scheme == "https":
            sock.settimeout(deadline.left())  # a TLS handshake's timeout is its total time
            sock = (context or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = [
            f"{method} {target} HTTP/1.1",
            f"Host: {parts.netloc.rpartition('@')[2]}",
            "User-Agent: cardwatch",
            "Connection: close",
            "Accept-Encoding: identity",
        ]
        if data is not None:
            head.append(f"Content-Length: {len(data)}")
            if content_type:
                head.append(f"Content-Type: {content_type}")
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (data or b"")
        sent_at = time.monotonic()
        sock.settimeout(deadline.left())  # sendall's timeout is its total time
        sock.sendall(request)
        reader = _Reader(sock, deadline)
        interim = 0
        while True:
            status = _status(reader.line())
            answered_at = time.monotonic()
            headers = _headers(reader)
            if status >= 200:
                break
            interim += 1
            if interim > MAX_INTERIM or status == 101:
                raise FetchError("malformed", f"{interim} interim (1xx) responses")
        if method == "HEAD" or status in (204, 304) or 300 <= status < 400:
            body = b""
        else:
            body = _body(reader, headers, limit)
        return Response(status, headers, body, sent_at, answered_at, url, interim)
    except TimeoutError:
        raise FetchError("timeout", f"no complete answer within {deadline.seconds:g} s") from None
    except ssl.SSLError as exc:
        raise FetchError("unreachable", f"TLS: {exc.reason or exc}") from None
    except OSError as exc:
        raise FetchError("unreachable", str(exc)) from None
    finally:
        sock.close()


def resolve(
    host: str, port: int, timeout: float, kind: int = socket.SOCK_STREAM
) -> list[tuple[int, tuple[object, ...]]]:
    """(family, address) pairs for ``host``, within ``timeout``; raises :class:`FetchError`."""
    return _resolve(host, port, _Deadline(timeout), kind)


def same_origin(first: str, second: str) -> bool:
    """Same scheme, host and port (the default port for the scheme when none is given)."""
    a, b = urllib.parse.urlsplit(first), urllib.parse.urlsplit(second)
    try:
        ports = (
            a.port or (443 if a.scheme.lower() == "https" else 80),
            b.port or (443 if b.scheme.lower() == "https" else 80),
        )
    except ValueError:
        return False
    return (
        a.scheme.lower() == b.scheme.lower()
        and (a.hostname or "") == (b.hostname or "")
        and ports[0] == ports[1]
    )


def fetch(
    url: str,
    *,
    timeout: float,
    limit: int,
    method: str | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
    redirects: int = MAX_REDIRECTS,
    any_status: bool = False,
    context: ssl.SSLContext | None = None,
) -> Response:
    """GET (or POST ``data``) ``url``; the whole transfer, redirects included, ends in ``timeout``.

    A 2xx answer is returned; anything else raises :class:`FetchError`, unless ``any_status``
    (then the first answer is returned as it is, redirects not followed).
    """
    deadline = _Deadline(timeout)
    verb = method or ("POST" if data is not None else "GET")
    current = url
    for _hop in range(redirects + 1):
        response = _once(current, verb, data, content_type, deadline, limit, context)
        if any_status or 200 <= response.status < 300:
            return response
        location = response.headers.get("location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            raise FetchError("http_error", f"HTTP {response.status}")
        target = urllib.parse.urljoin(current, location)
        if not same_origin(current, target):
            raise FetchError("redirect", f"redirect to another place refused: {target}")
        if response.status == 303:
            verb, data = "GET", None
        current = target
    raise FetchError("redirect", f"more than {redirects} redirects")
