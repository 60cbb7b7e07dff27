"""What the local fake API servers share: a threaded HTTP server, SSE writers, a reply queue.

:mod:`~voice_agent_cli.testing.fake_gemini` and
:mod:`~voice_agent_cli.testing.fake_openai` each speak one vendor's protocol
on top of this:

    ScriptedServer (lifecycle, FIFO of scripted replies, recorded requests)
        └─ a ThreadingHTTPServer whose handler subclasses FakeHandler
           (JSON and SSE writers, a hard connection drop, keep-alive aware,
            and the faults every fake serves alike: hang, error status,
            malformed JSON, a stream that drops, stalls or ends early)

A vendor's reply object has at least ``kind``, ``delay``, ``status``, ``body``,
``headers``, ``after_chunks`` and ``chunk_delay``; its handler implements
``_serve(reply, rec)`` for the rest.

Design notes
  * ThreadingHTTPServer, daemon threads, one background serve_forever thread.
  * protocol_version HTTP/1.1 -> keep-alive. Every response has either a
    Content-Length or is Transfer-Encoding: chunked (SSE), so the connection can
    be reused. The request body is always read fully (Content-Length).
  * disable_nagle_algorithm = True (TCP_NODELAY) -> ~1 ms per local request
    instead of ~40 ms delayed-ACK stalls.
  * stop() wakes "hang" handlers and shuts down every open client socket so
    no handler thread stays blocked in a keep-alive readline.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import sys
import threading
import time
from abc import ABC, ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar

ReplyT = TypeVar("ReplyT")
RequestT = TypeVar("RequestT")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: ScriptedServer[Any, Any]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client disconnects (timeouts, cancelled streams) are expected


class FakeHandler(http.server.BaseHTTPRequestHandler, metaclass=ABCMeta):
    """Request handler base: quiet, keep-alive, with the writers every fake needs."""

    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY
    server_name = "FakeServer/0.1"

    def version_string(self) -> str:
        return self.server_name

    def log_message(self, fmt: str, *args: Any) -> None:  # silence stderr
        pass

    @property
    def fake(self) -> Any:
        """The :class:`ScriptedServer` this handler serves."""
        return self.server.fake  # type: ignore[attr-defined]

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # ConnectionResetError / BrokenPipeError / shutdown by stop()
            self.close_connection = True

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.fake._track(self.connection, False)

    # -- low-level writers ---------------------------------------------------
    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = (
            obj
            if isinstance(obj, bytes)
            else (obj.encode() if isinstance(obj, str) else json.dumps(obj).encode())
        )
        headers = dict(headers or {})
        self.send_response(status)
        self.send_header(
            "Content-Type", headers.pop("Content-Type", "application/json; charset=UTF-8")
        )
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()

    def _sse_event(self, obj: Any) -> None:
        payload = obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":"))
        data = f"data: {payload}\r\n\r\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _abort_connection(self) -> None:
        """Simulate a dropped connection: RST-free hard close, no keep-alive."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_truncated_json(self, obj: Any) -> None:
        """A 200 whose body stops half-way and whose connection then drops."""
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self._abort_connection()

    # -- serving scripted replies ---------------------------------------------
    def _answer(self, rec: Any, reply: Any) -> None:
        """Serve ``reply`` to the request ``rec`` after its delay; record how it ended."""
        try:
            if reply.delay and self.fake._wait_until_stopped(reply.delay):
                self._abort_connection()
                return
            self._serve(reply, rec)
            rec.completed = reply.kind not in ("hang", "stall", "drop")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            rec.client_disconnected = True
            self.close_connection = True  # client went away (timeout/cancel/barge-in)

    @abstractmethod
    def _serve(self, reply: Any, rec: Any) -> None:
        """Answer ``reply`` in this fake's API format, noting what happened in ``rec``."""

    def _serve_fault(self, r: Any, stream: bool) -> bool:
        """Serve a reply every fake serves alike (a hang, an error status, malformed
        JSON); False when ``r`` is none of them."""
        if r.kind == "hang" or (r.kind == "stall" and not stream):
            self.fake._wait_until_stopped()  # until stop()
            self._abort_connection()
        elif r.kind == "error":
            self._send_json(r.status, r.body, r.headers)
        elif r.kind == "malformed" and stream:
            self._start_sse()
            self._sse_event(r.body)
            self._end_chunked()
        elif r.kind == "malformed":
            self._send_json(200, r.body)
        else:
            return False
        return True

    def _stream(self, r: Any, events: list[Any]) -> bool:
        """Send ``events`` as SSE with the reply's fault: ``drop`` closes the connection
        after ``after_chunks`` events, ``stall`` goes silent there, ``stream_error``
        stops there. True when the caller should end the stream itself."""
        self._start_sse()
        for i, event in enumerate(events):
            if r.kind in ("drop", "stream_error", "stall") and i >= r.after_chunks:
                break
            if i and r.chunk_delay and self.fake._wait_until_stopped(r.chunk_delay):
                self._abort_connection()
                return False
            self._sse_event(event)
        if r.kind == "drop":
            self._abort_connection()  # no terminating 0-chunk
            return False
        if r.kind == "stall":
            self.fake._wait_until_stopped()
            self._abort_connection()
            return False
        return True


def split_text(s: str, n: int) -> list[str]:
    """``s`` in at most ``n`` nearly equal pieces (one empty piece for an empty text)."""
    n = max(1, min(n, len(s) or 1))
    size = -(-len(s) // n) if s else 1
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


def serve_by_hand(make: Callable[[int], ScriptedServer[Any, Any]], variable: str) -> None:
    """Serve a fake on the port given as the first argument (default: a free one) until
    Ctrl-C, printing the environment variable that points a client at it."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with make(port) as fake:
        print(f"{variable}={fake.base_url}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


class ScriptedServer(ABC, Generic[ReplyT, RequestT]):
    """A fake API server in a background thread, answering from a queue of scripted replies.

    Every scripted reply is consumed by exactly one HTTP request (FIFO); when
    the queue is empty :meth:`_default_reply` answers. Use as a context manager
    or ``start()``/``stop()``.
    """

    thread_name = "fake-server"

    def __init__(
        self,
        handler: type[FakeHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        nodelay: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._queue: list[ReplyT] = []
        self.requests: list[RequestT] = []
        self._counter = 0
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        if not nodelay:
            handler = type("_NagleHandler", (handler,), {"disable_nagle_algorithm": False})
        self._server = _Server((host, port), handler)
        self._server.fake = self
        bound_host, bound_port = self._server.server_address[:2]
        self.host = bound_host.decode() if isinstance(bound_host, bytes | bytearray) else bound_host
        self.port = int(bound_port)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle --
    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wake hang/slow handlers
        self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # unblock keep-alive readers
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting --
    def enqueue(self, *replies: ReplyT) -> None:
        with self._lock:
            self._queue.extend(replies)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def last_request(self) -> RequestT | None:
        with self._lock:
            return self.requests[-1] if self.requests else None

    # -- internals --
    @abstractmethod
    def _default_reply(self) -> ReplyT:
        """What a request gets when the script is empty."""

    def _record(self, rec: RequestT) -> None:
        with self._lock:
            self.requests.append(rec)

    def _next_reply(self, rec: RequestT) -> ReplyT:
        with self._lock:
            self._counter += 1
            return self._queue.pop(0) if self._queue else self._default_reply()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _wait_until_stopped(self, seconds: float | None = None) -> bool:
        """Sleep ``seconds`` (forever if None); True when stop() cut it short."""
        return self._stopping.wait(seconds)
