"""Hostile HTTP peers on 127.0.0.1 for the tests, written on raw sockets (no HTTP library).

Modes:
  "trickle"   a 200 with a long body sent one byte every ``pace`` seconds, for ever
  "continue"  "100 Continue" interim responses, for ever
  "trailers"  a chunked 200 whose trailer section never ends
  "date"      a 200 to HEAD/GET with the Date header ``date`` (e.g. year 9999)
  "redirect"  a 302 to ``location`` for /x, ``body`` for any other path
  "huge"      a 200 announcing ``length`` bytes, then a trickle
  "body"      a 200 with ``body`` (Content-Length), or chunked when ``chunked``
Every connection is answered in its own thread; :meth:`close` ends them all.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class HostilePeer:
    def __init__(
        self,
        mode: str,
        *,
        pace: float = 0.05,
        date: str = "Fri, 31 Dec 9999 23:59:59 GMT",
        location: str = "",
        length: int = 0,
        body: bytes = b"",
        chunked: bool = False,
    ) -> None:
        self.mode = mode
        self.pace = pace
        self.date = date
        self.location = location
        self.length = length
        self.body = body
        self.chunked = chunked
        self.requests: list[bytes] = []
        #: connections open now, and the most open at once
        self.active = 0
        self.max_active = 0
        self._count = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/x"
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="hostile peer", daemon=True)

    def __enter__(self) -> HostilePeer:
        self._accept.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(
                target=self._handle, args=(conn,), name="hostile conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        conn.settimeout(0.05)
        while b"\r\n\r\n" not in data and not self._stop.is_set():
            try:
                more = conn.recv(65536)
            except TimeoutError:
                continue
            if not more:
                break
            data += more
        head, _sep, rest = data.partition(b"\r\n\r\n")
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                want = int(line.split(b":")[1])
                while len(rest) < want and not self._stop.is_set():
                    try:
                        more = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not more:
                        break
                    rest += more
        self.requests.append(head)
        return head

    def _drip(self, conn: socket.socket, unit: bytes) -> None:
        """Send ``unit`` every ``pace`` seconds until stopped or the client goes away."""
        while not self._stop.wait(self.pace):
            conn.sendall(unit)

    def _handle(self, conn: socket.socket) -> None:
        with self._count:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            with conn:
                head = self._read_request(conn)
                if not head:
                    return
                self._answer(conn, head)
        except OSError:
            pass  # the client hung up: what a good client does with a hostile peer
        finally:
            with self._count:
                self.active -= 1

    def _answer(self, conn: socket.socket, head: bytes) -> None:
        mode = self.mode
        if mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            self._drip(conn, b"x")
        elif mode == "continue":
            self._drip(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
        elif mode == "trailers":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n")
            self._drip(conn, b"X-Trailer: y\r\n")
        elif mode == "date":
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nDate: {self.date}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
        elif mode == "redirect" and head.split(b" ")[1] != b"/x":
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + self.body
            )
        elif mode == "redirect":
            conn.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: {self.location}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
        elif mode == "huge":
            conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {self.length}\r\n\r\n".encode())
            self._drip(conn, b"x" * 1024)
        elif mode == "body":
            if self.chunked:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                step = 65536
                for start in range(0, len(self.body), step):
                    piece = self.body[start : start + step]
                    conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                conn.sendall(b"0\r\n\r\n")
            else:
                conn.sendall(
                    f"HTTP/1.1 200 OK\r\nContent-Length: {len(self.body)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + self.body
                )
        else:
            raise ValueError(mode)


def main() -> None:
    """``python hostile_peers.py MODE[:PACE] ...``: one URL per line, until stdin closes."""
    import sys

    peers = []
    for arg in sys.argv[1:]:
        mode, _sep, pace = arg.partition(":")
        peer = HostilePeer(mode, pace=float(pace or 0.05), length=10 * 2**30)
        peers.append(peer.__enter__())
        print(peer.url, flush=True)
    sys.stdin.read()
    for peer in peers:
        peer.close()


if __name__ == "__main__":
    main()
