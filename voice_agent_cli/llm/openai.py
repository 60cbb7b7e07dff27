"""Any OpenAI-compatible server through the official openai SDK: Ollama, llama.cpp, vLLM, OpenAI.

One request per LLM step, always streamed::

    LLMRequest ─► chat.completions.create(stream=True, stream_options.include_usage)
                     │ chunks: delta.content ──────────────► TextChunk (spoken at once)
                     │         delta.tool_calls[index] ───► joined by index ─► ToolCall(s)
                     │         finish_reason, usage ──────► end of reply, TokenUsage
                     ▼
                  errors ─► openai_errors.translate ─► one line, an exit code, no key

Choices that matter (each checked against openai 3.57.0 and llama-cpp-python 0.3.36's server):

- The SDK's own retries are off (``max_retries=0``): the base class retries
  what is retryable, only before the first chunk, honouring Retry-After.
- ``base_url`` and the key follow the SDK's conventions: ``OPENAI_BASE_URL``
  when the profile names no URL, the key from ``openai.api_key_env``
  (``OPENAI_API_KEY``). Local servers need no key: a placeholder is sent.
- A reply is complete only when the server said why it stopped
  (``finish_reason``); a stream that ends before is an error. A stream that
  ends with nothing in it at all is asked again without streaming, to learn
  why: llama-cpp-python's server reports a too-long prompt that way only.
- ``tool_choice`` is sent explicitly whenever tools are: some servers ignore
  the tools without it. Assistant messages that only call tools carry an
  empty ``content`` (llama-cpp-python's server refuses ``null``).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolSpec
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.errors import LLMAuthError, LLMError, LLMServerError
from voice_agent_cli.llm.base import LLM, LLMRequest, ProviderChunk, TextChunk
from voice_agent_cli.llm.openai_errors import Where, translate
from voice_agent_cli.llm.stats import TokenUsage
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.tools.launch import resolve

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletionChunk

    from voice_agent_cli.llm.settings import OpenAISettings

_logger = logging.getLogger("va.llm.openai")

#: OpenAI's own endpoint: the only one where a missing key is certainly an error.
OPENAI_HOST = "api.openai.com"
#: Sent as the key to servers that need none (the SDK insists on one).
NO_KEY = "no-key-needed"


class OpenAILLM(LLM):
    """A model on an OpenAI-compatible server behind the :class:`~voice_agent_cli.llm.base.LLM`
    interface."""

    provider = "openai"

    def __init__(
        self,
        *,
        model: str,
        api_key: Secret | None = None,
        base_url: str | None = None,
        headers: Mapping[str, str] | None = None,
        organization: str | None = None,
        project: str | None = None,
        context_window: int | None = None,
        tool_choice: str = "auto",
        max_tokens_param: str = "max_tokens",
        reasoning_effort: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(model=model, timeout_s=timeout_s, retry=retry)
        self._api_key = api_key
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.headers = dict(headers or {})
        self.organization = organization
        self.project = project
        #: Read by the agent to keep the history within the model's window.
        self.context_window = context_window
        self.tool_choice = tool_choice
        self.max_tokens_param = max_tokens_param
        self.reasoning_effort = reasoning_effort
        self._client: AsyncOpenAI | None = None

    @classmethod
    def from_settings(
        cls,
        settings: OpenAISettings,
        *,
        api_key: Secret | None,
        model: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> OpenAILLM:
        """The provider an ``[openai]`` section describes (``${VARS}`` in headers resolved)."""
        headers = {
            name: resolve(value, os.environ, where=f"openai header {name}")
            for name, value in settings.headers.items()
        }
        return cls(
            model=model or settings.model,
            api_key=api_key,
            base_url=settings.base_url,
            headers=headers,
            organization=settings.organization,
            project=settings.project,
            context_window=settings.context_window,
            tool_choice=settings.tool_choice,
            max_tokens_param=settings.max_tokens_param,
            reasoning_effort=settings.reasoning_effort,
            timeout_s=timeout_s,
            retry=retry,
        )

    @property
    def endpoint(self) -> str:
        """Where requests go, as ``host[:port]``, without credentials (for messages)."""
        if not self.base_url:
            return OPENAI_HOST
        parts = urlsplit(self.base_url)
        if not parts.hostname:
            return "?"
        return parts.hostname + (f":{parts.port}" if parts.port else "")

    @property
    def server(self) -> str:
        """The server in words: "OpenAI", or "the server at HOST:PORT"."""
        return "OpenAI" if self.endpoint == OPENAI_HOST else f"the server at {self.endpoint}"

    @property
    def models_url(self) -> str:
        """Where the server lists its models (without credentials)."""
        root = (self.base_url or f"https://{OPENAI_HOST}/v1").rstrip("/")
        parts = urlsplit(root)
        return f"{parts.scheme}://{self.endpoint}{parts.path}/models"

    async def start(self) -> None:
        """Create the SDK client (a missing key for OpenAI itself is reported here)."""
        if self._client is not None:
            return
        if self._api_key is None and self.endpoint == OPENAI_HOST:
            raise LLMAuthError(
                "no OpenAI API key: set OPENAI_API_KEY (or openai.api_key_env), "
                "or point openai.base_url at a local server",
                provider=self.provider,
            )
        import httpx2
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(
            api_key=self._api_key.value if self._api_key else NO_KEY,
            base_url=self.base_url,
            organization=self.organization,
            project=self.project,
            default_headers=self.headers or None,
            max_retries=0,
            # A safety net per read; the base class enforces our own deadlines.
            timeout=httpx2.Timeout(self.timeout_s) if self.timeout_s else None,
        )

    async def list_models(self) -> list[str]:
        """The models the server serves (its ``/v1/models``), sorted; errors translated."""
        await self.start()
        assert self._client is not None
        try:
            page = await self._client.models.list()
            return sorted([model.id async for model in page])
        except Exception as exc:
            raise self._translate(exc) from None

    async def aclose(self) -> None:
        """Close the SDK's connection pool."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[ProviderChunk, None]:
        await self.start()
        assert self._client is not None
        body = self._body(request)
        try:
            stream = await self._client.chat.completions.create(**body)
        except Exception as exc:
            raise self._translate(exc) from None
        reply = _StreamedReply()
        try:
            async for chunk in stream:
                for text in reply.add(chunk):
                    yield TextChunk(text)
        except LLMError:
            raise
        except Exception as exc:
            raise self._translate(exc, mid_stream=True) from None
        finally:
            await stream.close()
        if reply.finish_reason is None:
            if reply.events == 0:
                raise await self._diagnose_silent_stream(body)
            raise LLMServerError(
                f"{self.server} ended the stream before the reply was complete",
                provider=self.provider,
            )
        for call in reply.tool_calls():
            yield call
        if reply.usage is not None:
            yield reply.usage

    def _body(self, request: LLMRequest) -> dict[str, Any]:
        """The chat-completions request for ``request``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_messages(request.system, request.messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": request.temperature,
            self.max_tokens_param: request.max_output_tokens,
        }
        if request.tools:
            body["tools"] = [_tool(spec) for spec in request.tools]
            body["tool_choice"] = self._tool_choice(request)
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        return body

    def _tool_choice(self, request: LLMRequest) -> str | dict[str, Any]:
        """What the model may do with the tools in this step.

        The profile's choice applies to the first step of a turn; once tool
        results are back the model decides (a forced choice would loop).
        """
        if not request.allow_tools:
            return "none"
        if request.messages and request.messages[-1].role == "tool":
            return "auto"
        if self.tool_choice in ("auto", "required", "none"):
            return self.tool_choice
        if any(spec.name == self.tool_choice for spec in request.tools):
            return {"type": "function", "function": {"name": self.tool_choice}}
        return "auto"  # the named tool is not offered right now (its server is down)

    async def _diagnose_silent_stream(self, body: dict[str, Any]) -> LLMError:
        """Why a stream ended with nothing in it: ask once more, without streaming."""
        import openai

        assert self._client is not None
        probe = {key: value for key, value in body.items() if key != "stream_options"}
        probe.update({"stream": False, self.max_tokens_param: 1})
        for attempt in (1, 2):
            try:
                await self._client.chat.completions.create(**probe)
            except openai.APIConnectionError as exc:
                # A server whose stream failed may close that keep-alive connection
                # just as the probe reuses it: one more try gets a fresh one.
                if attempt == 2 or isinstance(exc, openai.APITimeoutError):
                    return self._translate(exc)
                continue
            except Exception as exc:
                return self._translate(exc)
            break
        return LLMServerError(
            f"{self.server} ended the stream without a reply", provider=self.provider
        )

    def _translate(self, exc: Exception, *, mid_stream: bool = False) -> LLMError:
        """Map an SDK or transport exception to va's error tree, key-free."""
        where = Where(
            server=self.server,
            model=self.model,
            models_url=self.models_url,
            key_variable=self._api_key.source if self._api_key else None,
        )
        error = translate(exc, where, mid_stream=mid_stream)
        key = self._api_key.value if self._api_key else None
        if key and key in error.message:
            error.message = error.message.replace(key, "***")
            error.args = (error.message,)
        return error


@dataclass
class _StreamedReply:
    """What the chunks of one streamed reply add up to."""

    events: int = 0
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    _calls: dict[int, _ToolCallParts] = field(default_factory=dict)

    def add(self, chunk: ChatCompletionChunk) -> list[str]:
        """Take in one chunk; return its text (to be said now)."""
        self.events += 1
        if chunk.usage is not None:
            self.usage = TokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        texts: list[str] = []
        for choice in chunk.choices or []:
            if choice.index:
                continue  # only one choice is asked for (n = 1)
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    texts.append(delta.content)
                for part in delta.tool_calls or []:
                    index = part.index if part.index is not None else len(self._calls)
                    self._calls.setdefault(index, _ToolCallParts()).add(part)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return texts

    def tool_calls(self) -> list[ToolCall]:
        """The whole tool calls, in the order the model made them."""
        return [self._calls[index].call() for index in sorted(self._calls)]


@dataclass
class _ToolCallParts:
    """The streamed deltas of one tool call, joined.

    OpenAI sends the id and name once and the arguments in pieces; some
    servers (llama-cpp-python's) repeat the id and name in every delta.
    """

    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def add(self, part: Any) -> None:
        self.id = self.id or part.id
        function = part.function
        if function is not None:
            self.name = self.name or function.name or ""
            if function.arguments:
                self.arguments.append(function.arguments)

    def call(self) -> ToolCall:
        raw = "".join(self.arguments).strip() or "{}"
        try:
            arguments = json.loads(raw)
        except json.JSONDecodeError:
            arguments = None
        if not isinstance(arguments, dict):
            # The tool then refuses the call, and the model reads why and may retry.
            _logger.warning("the model sent %s arguments that are not a JSON object", self.name)
            arguments = {}
        return ToolCall(
            id=self.id or f"call_{uuid.uuid4().hex[:12]}", name=self.name, arguments=arguments
        )


def _tool(spec: ToolSpec) -> dict[str, Any]:
    """A tool as the chat-completions API declares it (the JSON schema passes untouched)."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters or {"type": "object", "properties": {}},
        },
    }


def to_messages(system: str, messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The history as chat-completions messages: tool calls and their results by id."""
    converted: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "user":
            content = (
                f"{message.speaker}: {message.content}" if message.speaker else message.content
            )
            converted.append({"role": "user", "content": content})
        elif message.role == "assistant":
            text = message.content + (" [interrupted by the user]" if message.interrupted else "")
            entry: dict[str, Any] = {"role": "assistant", "content": text}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ]
            if text.strip() or message.tool_calls:
                converted.append(entry)
        else:
            result = message.tool_result
            converted.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id or "",
                    "content": json.dumps(result.as_payload()) if result else message.content,
                }
            )
    return converted
