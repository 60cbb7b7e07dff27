"""OpenAI-compatible servers' failures in va's words: one line, an exit code, no key.

Every SDK and transport exception the openai provider meets comes through
:func:`translate`:

====================================  ==================================  ====
what happened                          va error                            exit
====================================  ==================================  ====
401 / 403                              LLMAuthError (names the variable)   2
unknown model (404, model_not_found)   LLMModelNotFound (+ /models URL)    2
404 elsewhere (wrong base_url)         LLMBadRequest                       1
prompt over the context window         LLMBadRequest ("too long")          1
429                                    LLMQuotaError, with Retry-After     1
429 insufficient_quota (billing)       LLMBadRequest (not retried)         1
408 / 504, timeouts                    LLMTimeout                          1
5xx, a malformed or cut-off stream     LLMServerError                      1
refused connection, DNS                LLMConnectionError                  3
====================================  ==================================  ====
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voice_agent_cli.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMConnectionError,
    LLMError,
    LLMModelNotFound,
    LLMQuotaError,
    LLMServerError,
    LLMTimeout,
)
from voice_agent_cli.resilience import parse_retry_after

PROVIDER = "openai"


@dataclass(frozen=True)
class Where:
    """What an error message may say about where a request went (never a key)."""

    #: "OpenAI", or "the server at HOST:PORT".
    server: str
    model: str
    #: Where the server lists its models.
    models_url: str
    #: The environment variable the key came from; None when no key was sent.
    key_variable: str | None


def translate(exc: Exception, where: Where, *, mid_stream: bool = False) -> LLMError:
    """One SDK or transport exception as one of va's LLM errors (``where`` names the server)."""
    import httpx2
    import openai

    server = where.server
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, where)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return LLMTimeout(f"{server} did not answer in time", provider=PROVIDER)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        if mid_stream:
            return LLMServerError(f"{server} cut the stream off mid-reply", provider=PROVIDER)
        cause = type(exc.__cause__ or exc).__name__
        return LLMConnectionError(
            f"cannot reach {server} ({cause}): is it running? (openai.base_url)",
            provider=PROVIDER,
        )
    if isinstance(exc, openai.APIError):  # an error event inside the stream
        detail = _short(exc.message)
        if _too_long(exc.code, detail):
            return _context_error(where)
        return LLMServerError(f"{server} failed mid-reply: {detail}", provider=PROVIDER)
    if isinstance(exc, ValueError | AttributeError | TypeError | KeyError):
        # json.JSONDecodeError is a ValueError; a chunk of the wrong shape fails on access.
        return LLMServerError(f"{server} sent a malformed response", provider=PROVIDER)
    return LLMError(f"{server} failed ({type(exc).__name__})", provider=PROVIDER)


def _from_status(exc: Any, where: Where) -> LLMError:
    """An HTTP error status as one of va's LLM errors."""
    server, model = where.server, where.model
    status: int = exc.status_code
    code = str(exc.code or "")
    detail = _short(_error_message(exc))
    if status in (401, 403):
        variable = f"${where.key_variable}" if where.key_variable else "OPENAI_API_KEY"
        verb = "rejected the API key" if where.key_variable else "needs an API key"
        return LLMAuthError(f"{server} {verb} ({status}): check {variable}", provider=PROVIDER)
    if code == "model_not_found" or (status == 404 and "model" in detail.lower()):
        return LLMModelNotFound(
            f"model {model!r} not found at {server} ({status}): choose one it serves with "
            f"--model or openai.model (it lists them at {where.models_url})",
            provider=PROVIDER,
        )
    if status == 404:
        return LLMBadRequest(
            f"{server} has no chat-completions endpoint there (404): check openai.base_url "
            "(it usually ends in /v1)",
            provider=PROVIDER,
        )
    if _too_long(code, detail):
        return _context_error(where)
    if status == 429:
        if code == "insufficient_quota":  # billing, not a rate: waiting will not help
            return LLMBadRequest(f"{server}: quota exhausted (429): {detail}", provider=PROVIDER)
        return LLMQuotaError(
            f"{server} rate limit reached (429): {detail}",
            provider=PROVIDER,
            retry_after_s=parse_retry_after(exc.response.headers),
        )
    if status in (408, 504):
        return LLMTimeout(f"{server} timed out ({status})", provider=PROVIDER)
    if 400 <= status < 500:
        return LLMBadRequest(
            f"{server} rejected the request ({status}): {detail}", provider=PROVIDER
        )
    return LLMServerError(
        f"{server} failed ({status})" + (f": {detail}" if detail else ""),
        provider=PROVIDER,
        retry_after_s=parse_retry_after(exc.response.headers),
    )


def _context_error(where: Where) -> LLMBadRequest:
    return LLMBadRequest(
        f"the conversation is too long for {where.model}'s context window: use /reset, or set "
        "openai.context_window so that va keeps the history within it",
        provider=PROVIDER,
    )


def _too_long(code: str | None, message: str) -> bool:
    """Whether an error says the prompt does not fit the model's context."""
    text = message.lower()
    return code == "context_length_exceeded" or any(
        marker in text
        for marker in ("maximum context length", "context window", "context length", "too long")
    )


def _error_message(exc: Any) -> str:
    """The server's own words, from the OpenAI error shape or a bare ``detail``."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message") or inner.get("detail")
            if message:
                return str(message)
        elif isinstance(inner, str):
            return inner
    return str(exc.message or "")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
