"""The embedded LLM: a GGUF model run by llama.cpp (llama-cpp-python), fully offline.

The model is loaded once per process and shared (:func:`load_model`), and all
inference runs in a worker thread so the event loop (and the audio riding on
it) never stalls. Generation stops as soon as the consumer stops reading,
which is what barge-in and timeouts need.

Tool calls: a model this small cannot be trusted to follow a free-form tool
protocol, so when tools are offered the model first makes a decision whose
shape is forced by a JSON schema (llama.cpp turns the schema into a grammar):
either "answer" or one tool with its arguments. Only then does it write the
free-text answer.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolSpec
from voice_agent_cli.errors import LLMBadRequest, LLMError, ModelUnavailable
from voice_agent_cli.llm.base import LLM, LLMChunk, LLMRequest, TextChunk
from voice_agent_cli.llm.catalogue import ModelChoice, resolve_model
from voice_agent_cli.llm.model_files import ProgressCallback
from voice_agent_cli.resilience import RetryPolicy

if TYPE_CHECKING:
    from llama_cpp import Llama


class LoadedModel:
    """A llama.cpp context and the lock that serialises its use.

    llama.cpp contexts are not re-entrant, and one context may serve several
    :class:`LocalLLM` objects (and event loops): every call on ``llama`` holds
    ``lock``, taken in the worker thread that does the work.
    """

    def __init__(self, llama: Llama) -> None:
        self.llama = llama
        self.lock = threading.Lock()

    def run(self, call: Callable[[Llama], Any]) -> Any:
        """Run a non-streaming ``call`` under the lock, translating llama.cpp's errors."""
        with self.lock:
            try:
                return call(self.llama)
            except ValueError as exc:
                raise _translate(exc) from None


_models: dict[tuple[str, int, int, str], LoadedModel] = {}
_models_lock = threading.Lock()


def default_threads() -> int:
    """Threads for inference: every core (llama.cpp is compute-bound)."""
    return max(1, os.cpu_count() or 1)


def load_model(
    model: ModelChoice,
    *,
    n_ctx: int,
    n_threads: int,
    purpose: str = "chat",
    progress: ProgressCallback | None = None,
) -> LoadedModel:
    """Load (or reuse) ``model`` (a catalogued model is assembled on first use).

    One context per ``purpose``: the weights are memory-mapped, so a second
    context costs only its KV cache, and each keeps its own prompt prefix warm
    (llama.cpp reuses the cached prefix of the previous prompt only).
    Blocking: call it from a worker thread.
    """
    model_path = model.path(progress)
    key = (str(model_path), n_ctx, n_threads, purpose)
    with _models_lock:
        if key in _models:
            return _models[key]
        if not model_path.is_file():
            raise ModelUnavailable(f"local model file not found: {model_path}")
        from llama_cpp import Llama

        try:
            llama = Llama(str(model_path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelUnavailable(f"cannot load local model {model_path.name}: {exc}") from None
        if not _models:
            atexit.register(close_models)
        _models[key] = LoadedModel(llama)
        return _models[key]


def close_models() -> None:
    """Free every loaded model (run at exit, while llama.cpp's bindings still exist).

    Left to the garbage collector at interpreter shutdown, ``Llama.__del__`` runs after
    the C bindings are gone and prints a ``TypeError`` traceback per model.
    """
    with _models_lock:
        loaded = list(_models.values())
        _models.clear()
    for model in loaded:
        # A call still running holds the lock; never free a model under it.
        if model.lock.acquire(timeout=5):
            try:
                model.llama.close()
            finally:
                model.lock.release()


class LocalLLM(LLM):
    """A llama.cpp model behind the :class:`~voice_agent_cli.llm.base.LLM` interface."""

    provider = "local"

    def __init__(
        self,
        *,
        model: str | Path | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        #: What ``model`` (a catalogue name, a GGUF path or None) resolved to.
        self.choice = resolve_model(model)
        super().__init__(model=self.choice.name, timeout_s=timeout_s, retry=retry)
        self.context_window: int = n_ctx
        self.n_threads = n_threads or default_threads()
        self._progress = progress
        self._chat: LoadedModel | None = None
        self._decider: LoadedModel | None = None

    async def start(self) -> None:
        """Assemble (first run only) and load the model, off the event loop."""
        if self._chat is None:
            self._chat = await asyncio.to_thread(
                load_model,
                self.choice,
                n_ctx=self.context_window,
                n_threads=self.n_threads,
                progress=self._progress,
            )

    async def prepare(self) -> None:
        """Assemble a catalogued model on the first run on this machine (with progress)."""
        await asyncio.to_thread(self.choice.path, self._progress)

    async def warm_up(self, system: str, tools: Sequence[ToolSpec]) -> None:
        """Evaluate the fixed start of every prompt now, not in the first turn.

        llama.cpp keeps the evaluated tokens of a context and reuses the longest
        common prefix of the next prompt: the system prompt (chat context) and the
        tool list with its examples (decision context, whose JSON grammar is also
        built here) then cost nothing in the first turn. The decision context is
        loaded here too rather than on first use.
        """
        await self.start()
        chat = self._chat
        assert chat is not None
        greeting = [{"role": "system", "content": system}, {"role": "user", "content": "Hi."}]
        await asyncio.to_thread(
            chat.run,
            lambda llama: llama.create_chat_completion(greeting, max_tokens=1),  # type: ignore[arg-type]
        )
        if tools:
            candidates = [replace(tool, name=short) for short, tool in _short_names(tools).items()]
            schema = {
                "type": "object",
                "properties": {"tool": {"enum": ["none", *(t.name for t in candidates)]}},
                "required": ["tool"],
            }
            await self._constrained(_choice_messages(candidates, "Hi."), schema, max_tokens=8)

    async def _load_decider(self) -> LoadedModel:
        """A second context of the same model for tool decisions (loaded on first use)."""
        if self._decider is None:
            self._decider = await asyncio.to_thread(
                load_model,
                self.choice,
                n_ctx=2048,
                n_threads=self.n_threads,
                purpose="tool-decision",
            )
        return self._decider

    def count_tokens(self, text: str) -> int:
        """Exact token count with the model's tokenizer once loaded."""
        if self._chat is None:
            return super().count_tokens(text)
        return len(self._chat.llama.tokenize(text.encode("utf-8"), add_bos=False))

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        await self.start()
        if request.tools and request.allow_tools:
            call = await self._decide_tool(request)
            if call is not None:
                yield call
                return
        async with aclosing(self._generate_text(request)) as deltas:
            async for text in deltas:
                yield TextChunk(text)

    async def _decide_tool(self, request: LLMRequest) -> ToolCall | None:
        """Ask the model, under JSON-schema grammars, whether and how to call a tool.

        Two small constrained steps work far better than one big one on a 0.5B
        model: first pick a tool name (or "none") from an enum, then, if the tool
        takes arguments, fill in just that tool's argument schema.
        """
        request_text, done = _current_request(request.messages)
        if done or not request_text:
            # One tool round per request: past that, a 0.5B model only loops
            # (it calls the same tool again until the step limit).
            return None
        by_short_name = _short_names(request.tools)
        candidates = [replace(tool, name=short) for short, tool in by_short_name.items()]
        choice = await self._constrained(
            _choice_messages(candidates, request_text),
            {
                "type": "object",
                "properties": {"tool": {"enum": ["none", *by_short_name]}},
                "required": ["tool"],
            },
            max_tokens=48,
        )
        tool = by_short_name.get(str(choice.get("tool")))
        if tool is None:
            return None
        arguments: dict[str, Any] = {}
        if tool.parameters.get("properties"):
            arguments = await self._constrained(
                _argument_messages(tool, request_text, _previous_exchange(request.messages)),
                tool.parameters,
                max_tokens=256,
            )
        return ToolCall(id=f"call_{uuid.uuid4().hex[:12]}", name=tool.name, arguments=arguments)

    async def _constrained(
        self, messages: list[dict[str, str]], schema: dict[str, Any], *, max_tokens: int
    ) -> dict[str, Any]:
        """One greedy completion forced into ``schema``; ``{}`` if it came back cut off."""
        decider = await self._load_decider()
        raw = await asyncio.to_thread(
            decider.run,
            lambda llama: llama.create_chat_completion(
                messages,  # type: ignore[arg-type]
                response_format={"type": "json_object", "schema": schema},
                temperature=0.0,
                max_tokens=max_tokens,
            ),
        )
        try:
            value = json.loads(raw["choices"][0]["message"]["content"] or "{}")
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    async def _generate_text(self, request: LLMRequest) -> AsyncGenerator[str, None]:
        """Stream text deltas from a worker thread; stop it when the consumer stops."""
        messages = _to_llama_messages(request.system, request.messages)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        model = self._chat
        assert model is not None, "start() loads the model first"

        def produce() -> None:
            try:
                with model.lock:
                    stream = model.llama.create_chat_completion(
                        messages,  # type: ignore[arg-type]
                        stream=True,
                        temperature=request.temperature,
                        max_tokens=request.max_output_tokens,
                    )
                    for chunk in stream:
                        if stop.is_set():
                            break
                        delta: Any = chunk["choices"][0]["delta"].get("content")  # type: ignore[index, union-attr]
                        if delta:
                            loop.call_soon_threadsafe(queue.put_nowait, str(delta))
            except ValueError as exc:
                loop.call_soon_threadsafe(queue.put_nowait, _translate(exc))
            except BaseException as exc:  # handed to the consumer, which reports it
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(produce), name="local-llm-generate")
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, LLMError):
                    raise item
                if isinstance(item, BaseException):
                    raise LLMError(f"local model failed: {item}", provider=self.provider)
                yield item
        finally:
            stop.set()
            # Wait for the thread to let go of the model before the turn ends.
            await asyncio.shield(worker)


def _translate(exc: ValueError) -> LLMError:
    text = str(exc)
    if "context window" in text or "exceed context" in text:
        return LLMBadRequest(
            "the conversation is too long for the local model's context window: "
            "use /reset or raise local.n_ctx",
            provider="local",
        )
    return LLMError(f"local model failed: {text}", provider="local")


def _to_llama_messages(system: str, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """History in the chat-template shape.

    Small models parrot any tool protocol they see in the history, so tool
    traffic is not shown as messages: the results of the tools called for the
    latest user message are attached to it as "[result: ...]", and older
    tool traffic is left out (the replies that used it are kept).
    """
    _, done = _current_request(messages)
    if done:
        system += (
            "\nWhen a message ends with [result: ...], that is what your tool returned: "
            "tell the user what it says, in your own words."
        )
    converted = [{"role": "system", "content": system}]
    for message in messages:
        if message.role == "user":
            content = (
                f"{message.speaker}: {message.content}" if message.speaker else message.content
            )
            converted.append({"role": "user", "content": content})
        elif message.role == "assistant" and message.content:
            suffix = " [interrupted by the user]" if message.interrupted else ""
            converted.append({"role": "assistant", "content": message.content + suffix})
    if done and converted[-1]["role"] == "user":
        # Values only: a small model reads tool names out loud ("va__calculate returned"),
        # and it parrots instructions placed here, so they live in the system prompt.
        converted[-1]["content"] += "\n[result: " + "; ".join(done.values()) + "]"
    return converted


def _short_names(tools: Sequence[ToolSpec]) -> dict[str, ToolSpec]:
    """Tools by the names a small model picks best: without their server prefix.

    ``va__add_note`` is chosen far more reliably as ``add_note``; a short name
    two servers share keeps its full form.
    """
    shorts = [tool.name.rsplit("__", 1)[-1] for tool in tools]
    return {
        short if shorts.count(short) == 1 else tool.name: tool
        for short, tool in zip(shorts, tools, strict=True)
    }


def _current_request(messages: Sequence[ChatMessage]) -> tuple[str, dict[str, str]]:
    """The latest user message, and the results of the tools already called for it."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    if last_user < 0:
        return "", {}
    done = {m.tool_name or "": m.content for m in messages[last_user + 1 :] if m.role == "tool"}
    return messages[last_user].content, done


#: Generic examples of requests that need no tool: without them a 0.5B model
#: reaches for a tool on almost every request.
_NO_TOOL_EXAMPLES = (
    "hi there",
    "what is the capital of Italy?",
    "any tips for staying focused?",
    "who wrote Hamlet?",
)


def _choice_messages(tools: Sequence[ToolSpec], request: str) -> list[dict[str, str]]:
    system = "\n".join(
        [
            "You pick the tool a voice assistant needs for a request, or none.",
            "Tools:",
            *(f"- {tool.name}: {tool.description}" for tool in tools),
            "- none: no tool; the assistant answers from its own knowledge "
            "(greetings, facts, jokes, advice, explanations).",
            "Pick a tool only when the request asks for exactly what that tool does.",
        ]
    )
    messages = [{"role": "system", "content": system}]
    for example in _NO_TOOL_EXAMPLES:
        messages.append({"role": "user", "content": example})
        messages.append({"role": "assistant", "content": '{"tool": "none"}'})
    messages.append({"role": "user", "content": request})
    return messages


def _argument_messages(tool: ToolSpec, request: str, before: str = "") -> list[dict[str, str]]:
    system = (
        f"Write the JSON arguments for calling the tool {tool.name} ({tool.description}) "
        f"to serve the user's request. Arguments schema: {json.dumps(tool.parameters)}"
    )
    if before:
        # A follow-up ("and what is that divided by 2?") names what came before.
        system += f"\nThe conversation just before the request:\n{before}"
    return [{"role": "system", "content": system}, {"role": "user", "content": request}]


def _previous_exchange(messages: Sequence[ChatMessage]) -> str:
    """The user message and reply before the latest request, as two lines ("" if none)."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    earlier = [m for m in messages[:last_user] if m.role in ("user", "assistant") and m.content]
    return "\n".join(f"{m.role}: {m.content}" for m in earlier[-2:])
