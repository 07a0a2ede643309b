"""A gunicorn worker that receives each request whole before a thread runs it.

gunicorn's ``gthread`` worker gives a connection to a thread as soon as it is readable, and the
thread then blocks until the request has arrived: a handful of clients sending slowly hold every
thread, and nothing bounds how long they may take. Here the worker's main thread reads every
connection without blocking and keeps what arrives in a buffer; only a complete request (head and
body, by ``Content-Length`` or chunks) is answered: by the main thread itself when the worker has
one thread (``ROUTER_THREADS=1``, the default: no hand-off to another thread, and the GIL with it,
per request; 4-9 % less CPU per ticket measured side by side), else by the thread pool. So:

- a slow client costs a buffer, never a thread;
- a request not complete within ``read_timeout_s`` of its first byte is answered 408 and never
  reaches the app (nothing is stored);
- requests pipelined on a keep-alive connection are answered one after the other, in order;
- a body above ``max_body_bytes`` is not read: the app answers 413 from its ``Content-Length``
  (or, chunked, the worker answers 413) and the connection closes.

Either way it is gunicorn's own request handling (parser, WSGI environ, response), so its
header limits and error answers stay as they are.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from functools import partial
from typing import Any

from gunicorn import http, util
from gunicorn.workers.gthread import ThreadWorker

_HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024  # gunicorn's own limits refuse far smaller heads; this bounds the buffer
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_FLUSH_AT = 256 * 1024  # an answer's bytes gathered before they are sent (see _Coalesced)
_SEND_TIMEOUT_S = 10.0  # a client that does not read its answer frees the thread after this


class _Frame:
    """Where the first request in a buffer ends, once it is all there."""

    __slots__ = ("close", "end", "expect", "head_end", "too_large")

    def __init__(self, head_end: int) -> None:
        self.head_end = head_end
        self.end: int | None = None  # None: the body is still arriving
        self.close = False  # no request may follow this one on the connection
        self.expect = False  # the client waits for ``100 Continue`` before the body
        self.too_large = False  # a chunked body over the limit: answered 413 here


def _chunked_end(buf: bytearray, start: int, limit: int, frame: _Frame) -> int | None:
    """The end of a chunked body that starts at ``start``, or None while it is incomplete."""
    pos, size_total = start, 0
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 1024:  # no chunk-size line is that long: let the parser refuse it
                frame.close = True
                return len(buf)
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            frame.close = True
            return len(buf)
        if size == 0:  # the last chunk: trailer lines follow, up to an empty one
            pos = eol + 2
            while (nxt := buf.find(b"\r\n", pos)) != pos:
                if nxt < 0:
                    return None
                pos = nxt + 2
            return pos + 2
        size_total += size
        if size_total > limit:
            frame.too_large = frame.close = True
            return len(buf)
        pos = eol + 2 + size + 2
        if pos > len(buf):
            return None


def frame_request(buf: bytearray, max_body: int) -> _Frame | None:
    """How the request at the start of ``buf`` is framed, or None while its head is incomplete.

    Only what decides where the request ends is read here; anything odd (two lengths, a length
    that is no number, an unknown transfer coding) ends the request at its head and closes the
    connection after gunicorn's parser has refused it.
    """
    head_end = buf.find(_HEAD_END)
    if head_end < 0:
        return None
    frame = _Frame(head_end + 4)
    lengths: set[bytes] = set()
    codings = b""
    for line in bytes(buf[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths.add(value.strip())
        elif name == b"transfer-encoding":
            codings += b"," + value.strip().lower()
        elif name == b"expect" and value.strip().lower() == b"100-continue":
            frame.expect = True
    body = frame.head_end
    if codings:
        if lengths or codings.rsplit(b",", 1)[-1].strip() != b"chunked":
            frame.end, frame.close = body, True
        else:
            frame.end = _chunked_end(buf, body, max_body, frame)
        return frame
    if len(lengths) > 1 or (lengths and not next(iter(lengths)).isdigit()):
        frame.end, frame.close = body, True
        return frame
    length = int(next(iter(lengths))) if lengths else 0
    if length > max_body:  # the app refuses it from the header alone; its body is never read
        frame.end, frame.close = body, True
    elif len(buf) >= body + length:
        frame.end = body + length
    return frame


def _without_expect(head: bytes) -> bytes:
    """The head without its ``Expect`` line: the worker has answered it already."""
    lines = head.split(b"\r\n")
    return b"\r\n".join(x for x in lines if not x.lower().startswith(b"expect:"))


class _Conn:
    __slots__ = ("buf", "client", "continued", "deadline", "initialized", "server", "sock")

    def __init__(self, sock: socket.socket, client: Any, server: Any, deadline: float) -> None:
        self.sock = sock
        self.client = client
        self.server = server
        self.buf = bytearray()
        self.deadline = deadline  # when the request being received (or the idle wait) times out
        self.continued = False  # ``100 Continue`` sent for the request being received
        self.initialized = True  # what gthread's request handling expects of a connection

    def close(self) -> None:
        util.close(self.sock)


class _Coalesced:
    """The socket a request is answered on, gathering what gunicorn sends (the head, then each part of the
    body: a ``sendall`` apiece) until the answer is complete or ``_FLUSH_AT`` bytes are waiting: on
    loopback every send costs a round of the kernel's TCP path and hands the GIL away."""

    __slots__ = ("out", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = bytearray()

    def sendall(self, data: bytes) -> None:
        self.out += data
        if len(self.out) >= _FLUSH_AT:
            self.flush()

    def send(self, data: bytes) -> int:
        self.flush()
        return self.sock.send(data)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self.flush()
        return self.sock.sendfile(file, offset, count)

    def flush(self) -> None:
        if self.out:
            data = bytes(self.out)
            self.out.clear()
            self.sock.sendall(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class BufferedWorker(ThreadWorker):
    """gthread's threads and request handling behind a main thread that buffers whole requests."""

    read_timeout_s = 10.0
    max_body_bytes = 1024 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading: dict[_Conn, None] = {}  # connections the main thread reads, in no order
        self._in_flight = 0
        self._accepting = False
        # One thread: the main thread answers each request itself once it is whole; a heartbeat
        # thread tells the arbiter the worker lives meanwhile.
        self._inline = self.cfg.threads == 1

    def run(self) -> None:
        for listener in self.sockets:
            listener.setblocking(False)
        self._listen(True)
        if self._inline:
            threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        next_sweep = 0.0
        while self.alive:
            if not self._inline:
                self.notify()
            with self._lock:
                full = len(self._reading) + self._in_flight >= self.worker_connections
            self._listen(not full)
            events = self.poller.select(0.5)
            # The time the events were seen: a connection that became readable while this thread
            # answered a request inline is read on the next pass, not swept as idle now.
            now = time.monotonic()
            for key, _ in events:
                key.data(key.fileobj)
            if now >= next_sweep:
                self._sweep(now)
                next_sweep = now + 0.25
            if not self.is_parent_alive():
                break
        self._listen(False)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        self.tpool.shutdown(False)
        with self._lock:
            for conn in list(self._reading):
                self._drop(conn)
        self.poller.close()
        for listener in self.sockets:
            listener.close()

    def _heartbeat(self) -> None:
        """While the main thread answers a long request (a model upload's probe), the arbiter still
        hears from the worker, as it does from gthread's main thread while a pool thread works."""
        interval = max(0.5, self.timeout / 4)
        while self.alive:
            self.notify()
            time.sleep(interval)

    def _listen(self, on: bool) -> None:
        if on == self._accepting:
            return
        self._accepting = on
        for listener in self.sockets:
            if on:
                self.poller.register(listener, selectors.EVENT_READ, partial(self._accept, listener.getsockname()))
            else:
                self.poller.unregister(listener)

    def _accept(self, server: Any, listener: socket.socket) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        sock.setblocking(False)
        conn = _Conn(sock, client, server, time.monotonic() + self.read_timeout_s)
        with self._lock:
            self._reading[conn] = None
            self.poller.register(sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: _Conn, _sock: socket.socket) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away: whatever part of a request it sent is dropped
            with self._lock:
                self._drop(conn)
            return
        if not conn.buf:
            conn.deadline = time.monotonic() + self.read_timeout_s  # a new request starts its clock
        conn.buf += data
        self._dispatch_if_complete(conn)

    def _dispatch_if_complete(self, conn: _Conn) -> None:
        """Main thread: hand the connection to a thread once its first request is all there."""
        frame = frame_request(conn.buf, self.max_body_bytes)
        if frame is None:
            if len(conn.buf) > MAX_HEAD_BYTES:
                self._refuse(conn, 431, "Request Header Fields Too Large", "the request head is over 64 KiB")
            return
        if frame.end is None:
            if frame.expect and not conn.continued:
                conn.continued = True
                with contextlib.suppress(OSError):
                    conn.sock.send(_CONTINUE)
            return
        if frame.too_large:
            self._refuse(conn, 413, "Payload Too Large", f"the request body is larger than {self.max_body_bytes} bytes")
            return
        with self._lock:
            self.poller.unregister(conn.sock)
            del self._reading[conn]
            self._in_flight += 1
        if self._inline:
            self._serve(conn, frame)
        else:
            self.tpool.submit(self._serve, conn, frame)

    def _refuse(self, conn: _Conn, status: int, reason: str, message: str) -> None:
        with contextlib.suppress(OSError):
            util.write_error(conn.sock, status, reason, message)
        with self._lock:
            self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        """Forget and close a connection the main thread reads (the caller holds the lock)."""
        if self._reading.pop(conn, False) is None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        conn.close()

    def _sweep(self, now: float) -> None:
        with self._lock:
            late = [c for c in self._reading if c.deadline <= now]
        for conn in late:
            if conn.buf:
                self._refuse(
                    conn, 408, "Request Timeout", f"the request was not received within {self.read_timeout_s:g} s"
                )
            else:
                with self._lock:
                    self._drop(conn)

    def _serve(self, conn: _Conn, frame: _Frame) -> None:
        """Pool thread: answer the buffered requests of one connection in order, then give it back."""
        keep = False
        try:
            conn.sock.settimeout(_SEND_TIMEOUT_S)
            while True:
                keep = self._one(conn, frame) and not frame.close and self.alive
                if not keep:
                    break
                next_frame = frame_request(conn.buf, self.max_body_bytes)
                if next_frame is not None and next_frame.too_large:
                    limit = self.max_body_bytes
                    util.write_error(
                        conn.sock, 413, "Payload Too Large", f"the request body is larger than {limit} bytes"
                    )
                    keep = False
                if not keep or next_frame is None or next_frame.end is None:
                    break
                frame = next_frame
        finally:
            self._give_back(conn, keep)

    def _one(self, conn: _Conn, frame: _Frame) -> bool:
        """Answer one buffered request; its status line, headers and body leave in one ``sendall``."""
        out = _Coalesced(conn.sock)
        conn.sock = out  # type: ignore[assignment]
        try:
            keep = self._handle(conn, frame)
        finally:
            conn.sock = out.sock
        try:
            out.flush()
        except OSError:
            return False
        return keep

    def _handle(self, conn: _Conn, frame: _Frame) -> bool:
        end = frame.end
        assert end is not None
        raw = bytes(conn.buf[:end])
        del conn.buf[:end]
        if conn.continued:
            raw = _without_expect(raw[: frame.head_end]) + raw[frame.head_end :]
            conn.continued = False
        req = None
        try:
            req = next(http.RequestParser(self.cfg, [raw], conn.client))
            return bool(self.handle_request(req, conn))
        except http.errors.NoMoreData:
            return False
        except StopIteration:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("Socket error processing request.")
            return False
        except Exception as exc:
            self.handle_error(req, conn.sock, conn.client, exc)
            return False

    def _give_back(self, conn: _Conn, keep: bool) -> None:
        with self._lock:
            self._in_flight -= 1
            if not keep:
                conn.close()
                return
            try:
                conn.sock.setblocking(False)
            except OSError:
                conn.close()
                return
            # What is buffered already is a request's beginning: its clock runs from now.
            conn.deadline = time.monotonic() + (self.read_timeout_s if conn.buf else self.cfg.keepalive)
            self._reading[conn] = None
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))


def worker_class(read_timeout_s: float, max_body_bytes: int) -> type[BufferedWorker]:
    """The worker class ``router serve`` hands gunicorn, with the router's limits."""
    return type(
        "RouterWorker",
        (BufferedWorker,),
        {"read_timeout_s": read_timeout_s, "max_body_bytes": max_body_bytes, "__module__": __name__},
    )
