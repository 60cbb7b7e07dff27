"""A scriptable, local OpenAI-compatible HTTP server (stdlib only).

The real ``openai`` SDK runs against scripted replies and the faults a real
server cannot be made to produce on demand (429 with Retry-After, 5xx, a hang,
a stream that drops mid-reply, malformed chunks, a bad key, an unknown model).
``python -m voice_agent_cli.testing.fake_openai`` serves it by hand.

Serves
  POST /v1/chat/completions   (``stream: true``: SSE chunks, then ``data: [DONE]``)
  GET  /v1/models

Usage (tests):
    from voice_agent_cli.testing import fake_openai as script
    with script.FakeOpenAI() as fake:
        fake.enqueue(script.text("Hello there", chunks=3),
                     script.tool_calls(script.call("get_time", {"tz": "UTC"})))
        client = openai.AsyncOpenAI(api_key="k", base_url=fake.base_url)
        ...
        assert fake.requests[-1].messages[0]["role"] == "system"

Every scripted reply is consumed by exactly one chat request (FIFO); with the
queue empty the reply echoes the last user message ("echo: <text>").
``FakeOpenAI(api_key=...)`` refuses any other bearer key with 401;
``FakeOpenAI(models=[...])`` answers any other model with 404 model_not_found.
The server machinery is shared with the Gemini fake
(:mod:`voice_agent_cli.testing._http_fake`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from voice_agent_cli.testing._http_fake import (
    FakeHandler,
    ScriptedServer,
    serve_by_hand,
    split_text,
)

# ---------------------------------------------------------------------------
# Scripted replies
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScriptedCall:
    """One tool call the fake model makes."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclasses.dataclass
class Reply:
    """One scripted response. Build with the helper functions below."""

    # text | tool_calls | error | hang | stall | drop | malformed | stream_error | silent | echo
    kind: str
    text: str = ""
    chunks: int = 3  # SSE events a text reply is split into
    chunk_delay: float = 0.0  # seconds between SSE events
    delay: float = 0.0  # seconds before the status line
    calls: tuple[ScriptedCall, ...] = ()
    arg_chunks: int = 2  # pieces each call's arguments are streamed in
    status: int = 200
    body: Any = None  # error body (dict -> JSON, str -> raw)
    headers: dict[str, str] | None = None
    after_chunks: int = 1  # drop / stall / stream_error: events sent before the fault
    finish_reason: str = "stop"


def text(
    s: str,
    *,
    chunks: int = 3,
    chunk_delay: float = 0.0,
    delay: float = 0.0,
    finish_reason: str = "stop",
) -> Reply:
    """Plain model text, streamed as ``chunks`` SSE events."""
    return Reply(
        "text",
        text=s,
        chunks=chunks,
        chunk_delay=chunk_delay,
        delay=delay,
        finish_reason=finish_reason,
    )


def call(
    name: str, arguments: dict[str, Any] | None = None, *, id: str | None = None
) -> ScriptedCall:
    """A tool call for :func:`tool_calls`."""
    return ScriptedCall(name, arguments or {}, id)


def tool_calls(*calls: ScriptedCall, text_before: str = "", arg_chunks: int = 2) -> Reply:
    """One or more tool calls in one step, their arguments streamed in pieces (by index)."""
    return Reply("tool_calls", calls=calls, text=text_before, arg_chunks=arg_chunks)


def http_error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    type: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
    body: Any = None,
    delay: float = 0.0,
) -> Reply:
    """A non-200 answer with OpenAI's error body: ``{"error": {"message", "type", "code"}}``.

    ``body=<str>`` sends a raw body instead (an HTML 502 page, say).
    """
    if body is None:
        body = {
            "error": {
                "message": message or f"Error {status}",
                "type": type,
                "param": None,
                "code": code,
            }
        }
    return Reply("error", status=status, body=body, headers=headers, delay=delay)


def rate_limited(retry_after_s: float = 2) -> Reply:
    """429 with a Retry-After header, as OpenAI and vLLM's routers send it."""
    return http_error(
        429,
        "Rate limit reached for requests. Please try again later.",
        code="rate_limit_exceeded",
        type="requests",
        headers={"Retry-After": f"{retry_after_s:g}"},
    )


def server_error(status: int = 500) -> Reply:
    """A 5xx with OpenAI's error body."""
    return http_error(
        status, "The server had an error while processing your request.", type="server_error"
    )


def invalid_api_key() -> Reply:
    """OpenAI's answer to a wrong key (401 invalid_api_key)."""
    return http_error(401, "Incorrect API key provided.", code="invalid_api_key")


def model_not_found(model: str) -> Reply:
    """OpenAI's answer to a model it does not serve (404 model_not_found)."""
    return http_error(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def context_length_exceeded(limit: int = 2048, requested: int = 4096) -> Reply:
    """400 context_length_exceeded, worded as OpenAI (and llama-cpp-python's server) do."""
    return http_error(
        400,
        f"This model's maximum context length is {limit} tokens. However, you requested "
        f"{requested} tokens. Please reduce the length of the messages or completion.",
        code="context_length_exceeded",
    )


def slow(delay: float, reply: Reply | None = None) -> Reply:
    """Wait ``delay`` seconds before the first byte, then send ``reply`` (default: echo)."""
    r = dataclasses.replace(reply) if reply is not None else Reply("echo")
    r.delay = delay
    return r


def hang() -> Reply:
    """Read the request, then never answer (until FakeOpenAI.stop())."""
    return Reply("hang")


def drop(
    s: str = "partial answer that gets cut off", *, after_chunks: int = 1, chunks: int = 3
) -> Reply:
    """Stream ``after_chunks`` events, then close the connection mid-reply."""
    return Reply("drop", text=s, after_chunks=after_chunks, chunks=chunks)


def stall(
    s: str = "first words and then silence", *, after_chunks: int = 1, chunks: int = 3
) -> Reply:
    """Stream ``after_chunks`` events, then keep the connection open and silent."""
    return Reply("stall", text=s, after_chunks=after_chunks, chunks=chunks)


def malformed(raw: str = '{"id": "chatcmpl-x", "choices": [{"delta": {"content": "oo') -> Reply:
    """200 whose SSE data (or body) is not valid JSON."""
    return Reply("malformed", body=raw)


def stream_error(message: str = "Internal error mid-stream", *, after_chunks: int = 1) -> Reply:
    """200, some text events, then ``data: {"error": {...}}`` (how vLLM fails mid-stream)."""
    return Reply(
        "stream_error",
        text="partial answer",
        after_chunks=after_chunks,
        body={"error": {"message": message, "type": "server_error", "code": None}},
    )


def silent() -> Reply:
    """200 and an event stream with nothing in it: how llama-cpp-python's server reports a
    prompt too long for its context when streaming (the reason appears only non-streamed)."""
    return Reply("silent")


# ---------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON (None if unparseable)
    raw_body: bytes
    client_disconnected: bool = False
    completed: bool = False

    @property
    def stream(self) -> bool:
        return bool((self.body or {}).get("stream"))

    @property
    def model(self) -> str | None:
        return (self.body or {}).get("model")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return (self.body or {}).get("messages", [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return (self.body or {}).get("tools") or []

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_name = "FakeOpenAI/0.1"

    def do_GET(self) -> None:
        self._read_body()
        fake: FakeOpenAI = self.fake
        if urlsplit(self.path).path.rstrip("/").endswith("/models"):
            models = sorted(fake.models) if fake.models is not None else ["fake-model"]
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in models],
                },
            )
            return
        self._send_json(404, {"error": {"message": "Not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.fake
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            method="POST",
            path=urlsplit(self.path).path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
        )
        fake._record(rec)
        self._answer(rec, self._refusal(fake, rec) or fake._next_reply(rec))

    def _refusal(self, fake: FakeOpenAI, rec: RecordedRequest) -> Reply | None:
        """What the server says before the model runs: wrong path, wrong key, unknown model."""
        if not rec.path.rstrip("/").endswith("/chat/completions"):
            return http_error(404, f"Unknown path {rec.path}")
        key = fake.api_key
        if key is not None and rec.headers.get("authorization") != f"Bearer {key}":
            return invalid_api_key()
        if fake.models is not None and rec.model not in fake.models:
            return model_not_found(str(rec.model))
        return None

    def _serve(self, r: Reply, rec: RecordedRequest) -> None:
        fake: FakeOpenAI = self.fake
        if r.kind == "echo":
            r = dataclasses.replace(text(f"echo: {rec.last_user_text}"), delay=r.delay)
        if self._serve_fault(r, rec.stream):
            return
        chunks = _chunks_for(r, rec, fake)
        if not rec.stream:
            if r.kind == "drop":
                self._send_truncated_json(_completion(chunks))
            elif r.kind == "stream_error":
                self._send_json(500, r.body)
            else:
                self._send_json(200, _completion(chunks))
            return
        if r.kind == "silent":
            self._start_sse()
            self._end_chunked()
            return
        if not self._stream(r, chunks):
            return
        if r.kind == "stream_error":
            self._sse_event(r.body)
        else:
            include_usage = ((rec.body or {}).get("stream_options") or {}).get("include_usage")
            if include_usage:
                usage = _usage(rec, chunks)
                self._sse_event({**_envelope(rec, fake), "choices": [], "usage": usage})
            self._sse_event("[DONE]")
        self._end_chunked()


def _envelope(rec: RecordedRequest, fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{fake._counter}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": rec.model or "fake-model",
    }


def _chunks_for(r: Reply, rec: RecordedRequest, fake: FakeOpenAI) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a text or tool-call reply, in order."""
    envelope = _envelope(rec, fake)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **envelope,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    if r.kind == "silent":
        return [*chunks, chunk({}, "stop")]
    if r.kind == "tool_calls":
        if r.text:
            chunks.append(chunk({"content": r.text}))
        for index, scripted in enumerate(r.calls):
            call_id = scripted.id or f"call_fake_{fake._counter}_{index}"
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": scripted.name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for piece in split_text(json.dumps(scripted.arguments), r.arg_chunks):
                chunks.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
        chunks.append(chunk({}, "tool_calls"))
        return chunks
    pieces = split_text(r.text, r.chunks)
    for piece in pieces[:-1]:
        chunks.append(chunk({"content": piece}))
    chunks.append(chunk({"content": pieces[-1]}, r.finish_reason))
    return chunks


def _usage(rec: RecordedRequest, chunks: list[dict[str, Any]]) -> dict[str, int]:
    prompt = max(1, len(json.dumps(rec.messages)) // 4)
    completion = max(1, len(chunks) - 1)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Streamed chunks merged into one non-streaming ``chat.completion``."""
    content = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = "stop"
    for item in chunks:
        choice = item["choices"][0]
        delta = choice["delta"]
        content += delta.get("content") or ""
        for part in delta.get("tool_calls") or []:
            entry = calls.setdefault(
                part["index"],
                {
                    "id": part.get("id"),
                    "type": "function",
                    "function": {"name": "", "arguments": ""},
                },
            )
            entry["function"]["name"] += part.get("function", {}).get("name", "")
            entry["function"]["arguments"] += part.get("function", {}).get("arguments", "")
        finish = choice["finish_reason"] or finish
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    first = chunks[0]
    return {
        "id": first["id"],
        "object": "chat.completion",
        "created": first["created"],
        "model": first["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 1,
            "completion_tokens": len(chunks),
            "total_tokens": len(chunks) + 1,
        },
    }


class FakeOpenAI(ScriptedServer[Reply, RecordedRequest]):
    """Background fake OpenAI-compatible server. Use as a context manager or start()/stop().

    ``base_url`` ends in ``/v1``, as the SDK's ``base_url`` (and ``OPENAI_BASE_URL``) expect.
    """

    thread_name = "fake-openai"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: Iterable[str] | None = None,
        nodelay: bool = True,
    ) -> None:
        super().__init__(_Handler, host, port, nodelay)
        #: If set, a request with another bearer key gets 401 invalid_api_key.
        self.api_key = api_key
        #: If set, the only models served: any other gets 404 model_not_found.
        self.models: set[str] | None = set(models) if models is not None else None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def _default_reply(self) -> Reply:
        return Reply("echo")


def main() -> None:
    """Serve an echoing fake on a port given as the first argument (default: a free one)."""
    serve_by_hand(lambda port: FakeOpenAI(port=port), "OPENAI_BASE_URL")


if __name__ == "__main__":
    main()
