"""A scriptable, local Gemini-compatible HTTP server (stdlib only).

It lets the real google-genai SDK run against scripted replies and injected
failures, with no network: tests, ``va bench`` and anyone embedding va can use
it. ``python -m voice_agent_cli.testing.fake_gemini`` serves it by hand.

Serves
  POST /{v1|v1beta|v1alpha}/models/{model}:generateContent
  POST /{v1|v1beta|v1alpha}/models/{model}:streamGenerateContent?alt=sse

Usage (tests):
    from voice_agent_cli.testing.fake_gemini import FakeGemini, text, function_call, http_error, ...
    with FakeGemini() as fake:
        fake.enqueue(text("Hello there", chunks=3), function_call("get_time", {"tz": "UTC"}))
        client = genai.Client(api_key="test-key",
                              http_options=types.HttpOptions(base_url=fake.base_url))
        ...
        assert fake.requests[-1].body["systemInstruction"]

Every scripted reply is consumed by exactly one HTTP request (FIFO). When the
queue is empty the default reply echoes the last user text ("echo: <text>").

``FakeGemini(models=[...])`` serves only those models: a request for any other
gets the 404 NOT_FOUND Gemini sends for a retired or unknown model.

The server machinery (threads, keep-alive, TCP_NODELAY, SSE writers, a clean
stop) is shared with the OpenAI fake: see :mod:`voice_agent_cli.testing._http_fake`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from voice_agent_cli.testing._http_fake import (
    FakeHandler,
    ScriptedServer,
    serve_by_hand,
    split_text,
)

# ---------------------------------------------------------------------------
# Scripted replies
# ---------------------------------------------------------------------------

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "Method doesn't allow unregistered callers (callers without established identity).",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report it.",
    503: "The model is overloaded. Please try again later.",
}


@dataclasses.dataclass
class Reply:
    """One scripted response. Build with the helper functions below."""

    # text | function_call | error | hang | stall | drop | malformed | stream_error | echo
    # | blocked (promptFeedback.blockReason) | empty (no candidates, or one without text)
    kind: str
    text: str = ""
    chunks: int = 3  # number of SSE events a text reply is split into (stream only)
    chunk_delay: float = 0.0  # seconds between SSE events
    delay: float = 0.0  # seconds before the first byte (status line)
    name: str = ""
    args: dict[str, Any] | None = None
    call_id: str | None = None
    thought_signature: str | None = None  # base64 string, echoed back by the SDK
    status: int = 200
    body: Any = None  # explicit error body (dict -> JSON, str -> raw)
    headers: dict[str, str] | None = None
    after_chunks: int = 1  # drop / stream_error: events sent before failure
    finish_reason: str | None = "STOP"
    block_reason: str = ""  # blocked: promptFeedback.blockReason


def text(
    s: str,
    *,
    chunks: int = 3,
    chunk_delay: float = 0.0,
    delay: float = 0.0,
    finish_reason: str = "STOP",
) -> Reply:
    """Plain model text. Streamed as `chunks` SSE events."""
    return Reply(
        "text",
        text=s,
        chunks=chunks,
        chunk_delay=chunk_delay,
        delay=delay,
        finish_reason=finish_reason,
    )


def blocked(reason: str = "SAFETY", message: str = "") -> Reply:
    """The prompt itself was blocked: no candidates, ``promptFeedback.blockReason`` set
    (with safety ratings), as Gemini answers a prompt its filters refuse."""
    return Reply("blocked", block_reason=reason, text=message)


def no_answer(finish_reason: str | None = None) -> Reply:
    """A response with nothing to say. ``finish_reason=None``: no candidates at all;
    otherwise one candidate with that finishReason and no content, as Gemini sends
    for a reply stopped by SAFETY, RECITATION or OTHER before any text."""
    return Reply("empty", finish_reason=finish_reason)


def function_call(
    name: str,
    args: dict[str, Any] | None = None,
    *,
    text_before: str = "",
    call_id: str | None = None,
    thought_signature: str | None = None,
    delay: float = 0.0,
) -> Reply:
    """A functionCall part (optionally preceded by a text event when streaming).
    thought_signature: base64 string put on the functionCall part, like Gemini 3 does;
    the client must send it back unchanged with the model turn."""
    return Reply(
        "function_call",
        name=name,
        args=args or {},
        text=text_before,
        call_id=call_id,
        thought_signature=thought_signature,
        delay=delay,
    )


def http_error(
    status: int,
    message: str | None = None,
    *,
    google_status: str | None = None,
    details: list | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
    content_type: str = "application/json; charset=UTF-8",
) -> Reply:
    """Non-200 response with a google.rpc.Status style JSON body:
    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "details": [...]}}
    Pass body=<str> to send a raw non-JSON body (e.g. an HTML 502 page)."""
    if body is None:
        err: dict[str, Any] = {
            "code": status,
            "message": message or _DEFAULT_MESSAGES.get(status, "Error"),
            "status": google_status or _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if details is not None:
            err["details"] = details
        body = {"error": err}
    hdrs = {"Content-Type": content_type, **(headers or {})}
    return Reply("error", status=status, body=body, headers=hdrs, delay=delay)


def rate_limited(retry_delay_s: int = 2) -> Reply:
    """429 exactly like Gemini's quota error (RetryInfo detail + Retry-After header)."""
    return http_error(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        details=[
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay_s}s"}
        ],
        headers={"Retry-After": str(retry_delay_s)},
    )


def invalid_api_key(status: int = 400) -> Reply:
    """What the real Gemini API returns for a bad key is 400 INVALID_ARGUMENT with
    reason API_KEY_INVALID; use status=401/403 to emulate other auth failures."""
    return http_error(
        status,
        "API key not valid. Please pass a valid API key.",
        google_status=_STATUS_NAMES.get(status),
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def model_not_found(model: str, api_version: str = "v1beta") -> Reply:
    """The 404 Gemini answers for a model it does not serve (retired, misspelt)."""
    return http_error(
        404,
        f"models/{model} is not found for API version {api_version}, or is not supported "
        "for generateContent. Call ListModels to see the list of available models and their "
        "supported methods.",
    )


def slow(delay: float, reply: Reply | None = None) -> Reply:
    """Sleep `delay` seconds before the first byte, then send `reply` (default: echo)."""
    r = dataclasses.replace(reply) if reply is not None else Reply("echo")
    r.delay = delay
    return r


def hang() -> Reply:
    """Read the request, then never answer (until FakeGemini.stop())."""
    return Reply("hang")


def drop(
    s: str = "partial answer that gets cut off", *, after_chunks: int = 1, chunks: int = 3
) -> Reply:
    """Stream: send `after_chunks` SSE events then close the TCP connection without
    the terminating zero-length chunk. Non-stream: send headers with a
    Content-Length larger than what is written, then close."""
    return Reply("drop", text=s, after_chunks=after_chunks, chunks=chunks)


def stall(
    s: str = "first words and then silence", *, after_chunks: int = 1, chunks: int = 3
) -> Reply:
    """Stream: send `after_chunks` SSE events, then hang (connection open, no more
    bytes) until FakeGemini.stop(). Non-stream: same as hang()."""
    return Reply("stall", text=s, after_chunks=after_chunks, chunks=chunks)


def malformed(raw: str = '{"candidates": [{"content": {"parts": [{"text": "oops"') -> Reply:
    """200 OK whose body (non-stream) / SSE data payload (stream) is not valid JSON."""
    return Reply("malformed", body=raw)


def stream_error(
    status: int = 500,
    message: str = "Internal error mid-stream",
    *,
    after_chunks: int = 1,
    s: str = "partial ",
) -> Reply:
    """Stream: HTTP 200, some text events, then `data: {"error": {...}}` (what Gemini
    does when it fails after the stream started)."""
    return Reply(
        "stream_error",
        status=status,
        text=s,
        after_chunks=after_chunks,
        body={
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS_NAMES.get(status, "UNKNOWN"),
            }
        },
    )


# ---------------------------------------------------------------------------
# Recorded requests
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str  # path without query, e.g. /v1/models/gemini-x:streamGenerateContent
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON (None if unparseable)
    raw_body: bytes
    api_version: str | None
    model: str | None
    method_name: str | None  # generateContent | streamGenerateContent
    stream: bool
    client_disconnected: bool = False  # set if the client closed the socket while we were writing
    completed: bool = False  # set when the full scripted reply was written

    # convenience accessors --------------------------------------------------
    @property
    def contents(self) -> list:
        return (self.body or {}).get("contents", [])

    @property
    def system_instruction(self) -> dict | None:
        return (self.body or {}).get("systemInstruction")

    @property
    def function_responses(self) -> list[dict]:
        out = []
        for c in self.contents:
            for p in c.get("parts", []):
                if "functionResponse" in p:
                    out.append(p["functionResponse"])
        return out

    @property
    def last_user_text(self) -> str:
        for c in reversed(self.contents):
            if c.get("role", "user") == "user":
                texts = [p["text"] for p in c.get("parts", []) if "text" in p]
                if texts:
                    return "".join(texts)
        return ""


_PATH_RE = re.compile(
    r"^/(?P<ver>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$"
)


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_name = "FakeGemini/0.1"

    # -- request handling ----------------------------------------------------
    def do_GET(self) -> None:
        self._read_body()
        self._send_json(
            404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}
        )

    def do_POST(self) -> None:
        fake: FakeGemini = self.fake
        raw = self._read_body()
        split = urlsplit(self.path)
        m = _PATH_RE.match(split.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = RecordedRequest(
            method="POST",
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
            api_version=m["ver"] if m else None,
            model=m["model"] if m else None,
            method_name=m["method"] if m else None,
            stream=bool(m and m["method"] == "streamGenerateContent"),
        )
        fake._record(rec)
        self._answer(rec, self._refusal(fake, rec) or fake._next_reply(rec))

    def _refusal(self, fake: FakeGemini, rec: RecordedRequest) -> Reply | None:
        """What the server says before the model runs: wrong path, wrong key, unknown model."""
        if rec.method_name is None:
            return http_error(404, f"Unknown path {rec.path}")
        if fake.api_key is not None:
            key = rec.headers.get("x-goog-api-key") or (rec.query.get("key") or [""])[0]
            if key != fake.api_key:
                return invalid_api_key()
        if fake.models is not None and rec.model not in fake.models:
            return model_not_found(rec.model or "", rec.api_version or "v1beta")
        return None

    def _serve(self, r: Reply, rec: RecordedRequest) -> None:
        fake: FakeGemini = self.fake
        if r.kind == "echo":
            r = dataclasses.replace(text(f"echo: {rec.last_user_text}"), delay=r.delay)
        if self._serve_fault(r, rec.stream):
            return
        events = _events_for(r, rec, fake)
        if not rec.stream:
            if r.kind == "drop":
                self._send_truncated_json(_merge(events))
                return
            if r.kind == "stream_error":
                self._send_json(r.status, r.body)
                return
            self._send_json(200, _merge(events))
            return

        if self._stream(r, events):
            if r.kind == "stream_error":
                self._sse_event(r.body)
            self._end_chunked()


def _usage(prompt_tokens: int, out_tokens: int) -> dict:
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": out_tokens,
        "totalTokenCount": prompt_tokens + out_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }


def _events_for(r: Reply, rec: RecordedRequest, fake: FakeGemini) -> list[dict]:
    """SSE event dicts (GenerateContentResponse JSON) for a text/function_call reply."""
    prompt_tokens = max(1, len(json.dumps(rec.contents)) // 4)
    resp_id = f"fake-{fake._counter}"
    base = {"modelVersion": rec.model or "fake", "responseId": resp_id}
    events: list[dict] = []
    if r.kind == "blocked":
        feedback: dict[str, Any] = {
            "blockReason": r.block_reason,
            "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
            ],
        }
        if r.text:
            feedback["blockReasonMessage"] = r.text
        events.append(
            {"promptFeedback": feedback, "usageMetadata": _usage(prompt_tokens, 0), **base}
        )
    elif r.kind == "empty":
        event: dict[str, Any] = {"usageMetadata": _usage(prompt_tokens, 0), **base}
        if r.finish_reason is not None:
            event["candidates"] = [{"finishReason": r.finish_reason, "index": 0}]
        events.append(event)
    elif r.kind in ("text", "drop", "stream_error", "stall"):
        pieces = split_text(r.text, r.chunks)
        out = 0
        for i, piece in enumerate(pieces):
            out += max(1, len(piece) // 4)
            cand: dict[str, Any] = {
                "content": {"role": "model", "parts": [{"text": piece}]},
                "index": 0,
            }
            if i == len(pieces) - 1:
                cand["finishReason"] = r.finish_reason
            events.append(
                {"candidates": [cand], "usageMetadata": _usage(prompt_tokens, out), **base}
            )
    elif r.kind == "function_call":
        if r.text:
            events.append(
                {
                    "candidates": [
                        {"content": {"role": "model", "parts": [{"text": r.text}]}, "index": 0}
                    ],
                    "usageMetadata": _usage(prompt_tokens, 1),
                    **base,
                }
            )
        fc: dict[str, Any] = {"name": r.name, "args": r.args or {}}
        if r.call_id:
            fc["id"] = r.call_id
        part: dict[str, Any] = {"functionCall": fc}
        if r.thought_signature:
            part["thoughtSignature"] = r.thought_signature
        events.append(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [part]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": _usage(prompt_tokens, 8),
                **base,
            }
        )
    else:  # pragma: no cover
        raise ValueError(r.kind)
    return events


def _merge(events: list[dict]) -> dict:
    """Merge streamed events into one non-streaming GenerateContentResponse."""
    if not any(ev.get("candidates", [{}])[0].get("content") for ev in events):
        return dict(events[-1])  # blocked or empty: nothing to merge
    parts: list[dict] = []
    for ev in events:
        for p in ev["candidates"][0]["content"]["parts"]:
            if "text" in p and parts and "text" in parts[-1]:
                parts[-1] = {"text": parts[-1]["text"] + p["text"]}
            else:
                parts.append(dict(p))
    last = events[-1]
    cand = {
        "content": {"role": "model", "parts": parts},
        "index": 0,
        "finishReason": last["candidates"][0].get("finishReason", "STOP"),
    }
    return {
        "candidates": [cand],
        "usageMetadata": last["usageMetadata"],
        "modelVersion": last["modelVersion"],
        "responseId": last["responseId"],
    }


class FakeGemini(ScriptedServer[Reply, RecordedRequest]):
    """Background fake Gemini server. Use as a context manager or start()/stop()."""

    thread_name = "fake-gemini"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        nodelay: bool = True,
        models: Iterable[str] | None = None,
    ):
        super().__init__(_Handler, host, port, nodelay)
        self.api_key = api_key  # if set, requests with another key get 400 API_KEY_INVALID
        #: If set, the only models served: any other gets 404 NOT_FOUND.
        self.models: set[str] | None = set(models) if models is not None else None

    def _default_reply(self) -> Reply:
        return Reply("echo")


def main() -> None:
    """Serve an echoing fake on a port given as the first argument (default: a free one)."""
    serve_by_hand(lambda port: FakeGemini(port=port), "GOOGLE_GEMINI_BASE_URL")


if __name__ == "__main__":
    main()
