"""Gemini through the official google-genai SDK: streaming, function calling, errors.

Choices that matter (each verified against google-genai 3.6.1):

- The async client is pinned to the SDK's httpx2 transport. Left alone, the SDK
  switches to aiohttp whenever aiohttp is importable, which changes timeout
  semantics (a total limit that cuts long replies), adds a hidden 1-10 s retry
  on connection errors, and warns on every new session.
- The SDK's own retries are off (``attempts=1``): the base class retries, with
  backoff, only what is retryable and only before the first chunk.
- The stream is read by a dedicated task feeding a queue. Cancelling that task
  is the only way to really close the HTTP stream when the consumer stops
  early (barge-in); breaking out of the loop leaves the server talking.
- Every SDK and transport exception is translated here into
  :mod:`voice_agent_cli.errors`, with messages that never carry the API key.
  A retired or unknown model (404) says which model and how to choose another.
- Thinking is bounded for voice: Gemini 3 models take a thinking level
  (``minimal`` by default), older ones a token budget; thought parts are
  never spoken. The usage Gemini reports is handed to the base class.
- A response with nothing to say is never passed on as an empty reply: a
  blocked prompt (``promptFeedback.blockReason``), a reply stopped by SAFETY,
  RECITATION, OTHER ..., no candidates or no text all raise
  :class:`~voice_agent_cli.errors.LLMNoAnswer` with the reason, and are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolSpec
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.errors import (
    LLMAuthError,
    LLMBadRequest,
    LLMConnectionError,
    LLMError,
    LLMModelNotFound,
    LLMNoAnswer,
    LLMQuotaError,
    LLMServerError,
    LLMTimeout,
)
from voice_agent_cli.llm.base import LLM, LLMChunk, LLMRequest, ProviderChunk, TextChunk
from voice_agent_cli.llm.settings import DEFAULT_GEMINI_MODEL
from voice_agent_cli.llm.stats import TokenUsage
from voice_agent_cli.resilience import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

_END = object()
logger = logging.getLogger("va.llm")
#: The thought signature Gemini accepts on a function call it did not make itself.
_UNSIGNED_CALL = b"skip_thought_signature_validator"


class GeminiLLM(LLM):
    """Gemini models behind the :class:`~voice_agent_cli.llm.base.LLM` interface."""

    provider = "gemini"

    def __init__(
        self,
        *,
        model: str = DEFAULT_GEMINI_MODEL,
        api_key: Secret | None,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        thinking_level: str | None = None,
        thinking_budget: int | None = None,
    ) -> None:
        super().__init__(model=model, timeout_s=timeout_s, retry=retry)
        self.thinking_level = thinking_level
        self.thinking_budget = thinking_budget
        self._api_key = api_key
        self.base_url = base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
        self.api_version = api_version
        self._client: genai.Client | None = None

    @property
    def endpoint(self) -> str:
        """Where requests go, without credentials (for messages)."""
        if not self.base_url:
            return "generativelanguage.googleapis.com"
        parts = urlsplit(self.base_url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"

    async def start(self) -> None:
        """Create the SDK client (the key is checked here, before any request)."""
        if self._client is not None:
            return
        if self._api_key is None:
            raise LLMAuthError(
                "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY), "
                "or use --llm local for the offline model",
                provider=self.provider,
            )
        import httpx2
        from google import genai
        from google.genai import types

        options = types.HttpOptions(
            base_url=self.base_url,
            api_version=self.api_version,
            # A safety net per read; the base class enforces our own deadlines.
            timeout=int(self.timeout_s * 1000) if self.timeout_s else None,
            retry_options=types.HttpRetryOptions(attempts=1),
            async_client_args={"transport": httpx2.AsyncHTTPTransport()},
        )
        self._client = genai.Client(
            api_key=self._api_key.value, vertexai=False, http_options=options
        )

    async def aclose(self) -> None:
        """Close the SDK's connection pools."""
        client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()
            client.close()

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[ProviderChunk, None]:
        await self.start()
        assert self._client is not None
        client = self._client
        contents = to_contents(request.messages)
        config = self._config(request)
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            try:
                stream = await client.aio.models.generate_content_stream(
                    model=self.model, contents=contents, config=config
                )
                async for response in stream:
                    queue.put_nowait(response)
                queue.put_nowait(_END)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await _release_failed_stream(exc)
                queue.put_nowait(exc)

        reader = asyncio.create_task(read(), name=f"gemini-stream-{self.model}")
        outcome = _Outcome()
        usage = None
        try:
            while (item := await queue.get()) is not _END:
                if isinstance(item, Exception):
                    raise self._translate(item) from None
                outcome.read(item)
                usage = item.usage_metadata or usage
                for chunk in _chunks_of(item):
                    outcome.produced |= not isinstance(chunk, TextChunk) or bool(chunk.text)
                    yield chunk
            if usage is not None and usage.prompt_token_count is not None:
                # Each streamed response carries the running totals: the last one counts.
                yield TokenUsage(usage.prompt_token_count, usage.candidates_token_count or 0)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        problem = outcome.problem()
        if problem is not None:
            logger.warning(
                "%s", problem.message, extra={"model": self.model, "reason": problem.reason}
            )
            raise problem

    def _config(self, request: LLMRequest) -> types.GenerateContentConfig:
        from google.genai import types

        tools = None
        tool_config = None
        if request.tools:
            tools = [types.Tool(function_declarations=[_declaration(t) for t in request.tools])]
            if not request.allow_tools:
                # Tools stay declared (the history may hold calls) but may not be called.
                tool_config = types.ToolConfig(
                    function_calling_config=types.FunctionCallingConfig(mode="NONE")
                )
        thinking = None
        if self.thinking_budget is not None:  # a budget replaces the level (Gemini takes one)
            thinking = types.ThinkingConfig(thinking_budget=self.thinking_budget)
        elif self.thinking_level and self.thinking_level != "default":
            thinking = types.ThinkingConfig(
                thinking_level=types.ThinkingLevel(self.thinking_level.upper())
            )
        return types.GenerateContentConfig(
            system_instruction=request.system or None,
            temperature=request.temperature,
            max_output_tokens=request.max_output_tokens,
            tools=tools,
            tool_config=tool_config,
            thinking_config=thinking,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

    def _translate(self, exc: Exception) -> LLMError:
        """Map an SDK or transport exception to va's error tree, key-free."""
        error = _classify(exc, self.model, self.endpoint)
        if self._api_key is not None and self._api_key.value in error.message:
            error.message = error.message.replace(self._api_key.value, "***")
            error.args = (error.message,)
        return error


#: Finish reasons of a reply that ended normally (anything else stopped it).
_NORMAL_FINISH = frozenset({None, "STOP", "MAX_TOKENS", "FINISH_REASON_UNSPECIFIED"})


def _name(value: Any) -> str | None:
    """An SDK enum (or string) as its plain name."""
    return None if value is None else str(getattr(value, "value", value))


@dataclass
class _Outcome:
    """What a streamed response said besides its text: why it stopped, or was blocked."""

    produced: bool = False
    candidates: bool = False
    finish_reason: str | None = None
    block_reason: str | None = None
    block_message: str | None = None

    def read(self, response: types.GenerateContentResponse) -> None:
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.block_reason = _name(feedback.block_reason)
            self.block_message = feedback.block_reason_message
        for candidate in (response.candidates or [])[:1]:
            self.candidates = True
            if candidate.finish_reason is not None:
                self.finish_reason = _name(candidate.finish_reason)

    def problem(self) -> LLMNoAnswer | None:
        """The error to raise instead of an empty or cut reply, or ``None``."""
        if self.block_reason is not None:
            detail = f": {self.block_message}" if self.block_message else ""
            return _no_answer(f"Gemini blocked the request ({self.block_reason}){detail}", self)
        if self.finish_reason not in _NORMAL_FINISH:
            if self.produced:
                return _no_answer(f"Gemini stopped its reply ({self.finish_reason})", self)
            return _no_answer(f"Gemini gave no answer ({self.finish_reason})", self)
        if self.produced:
            return None
        if not self.candidates:
            return _no_answer("Gemini gave no answer (no candidates)", self, "NO_CANDIDATES")
        if self.finish_reason == "MAX_TOKENS":
            return _no_answer(
                "Gemini reached max_output_tokens before writing any text", self, "MAX_TOKENS"
            )
        return _no_answer("Gemini gave an empty reply", self, "EMPTY")


def _no_answer(message: str, outcome: _Outcome, reason: str | None = None) -> LLMNoAnswer:
    found = reason or outcome.block_reason or outcome.finish_reason or "EMPTY"
    return LLMNoAnswer(message, provider="gemini", reason=found)


def _classify(exc: Exception, model: str, endpoint: str) -> LLMError:
    import httpx2
    from google.genai import errors

    provider = "gemini"
    if isinstance(exc, errors.APIError):
        code = exc.code or 0
        detail = _short(exc.message or exc.status or "")
        reasons = {d.get("reason") for d in _error_details(exc) if isinstance(d, dict)}
        if code in (401, 403) or "API_KEY_INVALID" in reasons:
            return LLMAuthError(
                f"Gemini rejected the API key ({code} {exc.status}): check GEMINI_API_KEY",
                provider=provider,
            )
        if code == 429:
            return LLMQuotaError(
                f"Gemini rate limit or quota exceeded (429): {detail}",
                provider=provider,
                retry_after_s=_retry_after(exc),
            )
        if code == 404:
            return LLMModelNotFound(
                f"Gemini model {model!r} is not available (404: retired or unknown): "
                "choose a current one with --model or gemini.model, e.g. gemini-3.5-flash-lite "
                "or gemini-flash-latest",
                provider=provider,
            )
        if code in (408, 504):
            return LLMTimeout(f"Gemini timed out ({code})", provider=provider)
        if 400 <= code < 500:
            return LLMBadRequest(
                f"Gemini rejected the request ({code}): {detail}", provider=provider
            )
        return LLMServerError(
            f"Gemini server error ({code} {exc.status or ''})".replace(" )", ")"),
            provider=provider,
        )
    if isinstance(exc, TimeoutError | httpx2.TimeoutException):
        return LLMTimeout(f"Gemini at {endpoint} did not answer in time", provider=provider)
    if isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError):
        return LLMServerError("the Gemini stream was cut off mid-reply", provider=provider)
    if isinstance(exc, httpx2.TransportError | OSError):
        return LLMConnectionError(
            f"cannot reach Gemini at {endpoint} ({type(exc).__name__})", provider=provider
        )
    if isinstance(exc, ValueError):  # UnknownApiResponseError, JSONDecodeError
        return LLMServerError("Gemini sent a malformed response", provider=provider)
    return LLMError(f"Gemini failed ({type(exc).__name__})", provider=provider)


def _retry_after(exc: Any) -> float | None:
    """How long Gemini asked to wait: its RetryInfo detail, or the Retry-After header."""
    for detail in _error_details(exc):
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            with contextlib.suppress(ValueError):
                return max(0.0, float(delay[:-1]))
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return parse_retry_after(headers)


def _error_details(exc: Any) -> list[Any]:
    details = exc.details if isinstance(exc.details, dict) else {}
    found = (details.get("error") or details).get("details") or []
    return found if isinstance(found, list) else []


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def _release_failed_stream(exc: Exception) -> None:
    """Close the HTTP response an exception left open (the SDK does not)."""
    stream: Any = getattr(getattr(exc, "response", None), "response_stream", None)
    with contextlib.suppress(Exception):
        if hasattr(stream, "aclose"):
            await stream.aclose()
        elif hasattr(stream, "release"):
            stream.release()


def _declaration(tool: ToolSpec) -> types.FunctionDeclaration:
    from google.genai import types

    # parameters_json_schema passes a JSON schema through untouched (enums,
    # additionalProperties...), which is what tool servers hand us.
    return types.FunctionDeclaration(
        name=tool.name,
        description=tool.description,
        parameters_json_schema=tool.parameters or {"type": "object", "properties": {}},
    )


def _chunks_of(response: types.GenerateContentResponse) -> list[LLMChunk]:
    """Text and function calls of one streamed response, in order."""
    chunks: list[LLMChunk] = []
    for candidate in (response.candidates or [])[:1]:
        content = candidate.content
        for part in (content.parts if content and content.parts else []) or []:
            if part.function_call is not None:
                call = part.function_call
                chunks.append(
                    ToolCall(
                        id=call.id or f"call_{uuid.uuid4().hex[:12]}",
                        name=call.name or "",
                        arguments=dict(call.args or {}),
                        signature=part.thought_signature,
                    )
                )
            elif part.text and not part.thought:
                chunks.append(TextChunk(part.text))
    return chunks


def to_contents(messages: Sequence[ChatMessage]) -> list[types.Content]:
    """The history as Gemini contents: tool results grouped into one user turn."""
    from google.genai import types

    contents: list[types.Content] = []
    pending_results: list[types.Part] = []

    def flush_results() -> None:
        if pending_results:
            contents.append(types.Content(role="user", parts=list(pending_results)))
            pending_results.clear()

    for message in messages:
        if message.role == "tool":
            part = types.Part.from_function_response(
                name=message.tool_name or "",
                response=message.tool_result.as_payload()
                if message.tool_result
                else {"result": message.content},
            )
            if part.function_response is not None:
                part.function_response.id = message.tool_call_id
            pending_results.append(part)
            continue
        flush_results()
        if message.role == "user":
            text = f"{message.speaker}: {message.content}" if message.speaker else message.content
            contents.append(types.Content(role="user", parts=[types.Part.from_text(text=text)]))
        else:
            parts: list[types.Part] = []
            text = message.content + (" [interrupted by the user]" if message.interrupted else "")
            if text.strip():
                parts.append(types.Part.from_text(text=text))
            for call in message.tool_calls:
                parts.append(
                    types.Part(
                        function_call=types.FunctionCall(
                            id=call.id, name=call.name, args=call.arguments
                        ),
                        # A call va made itself (a tool-detection rule, or another LLM
                        # before a failover) has no signature: Gemini 3 refuses such a
                        # call unless it carries Google's documented "skip" sentinel.
                        thought_signature=call.signature or _UNSIGNED_CALL,
                    )
                )
            if parts:
                contents.append(types.Content(role="model", parts=parts))
    flush_results()
    return contents
