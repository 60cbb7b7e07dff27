"""The caching rule: which replies may be reused, and the key each one is filed under.

A cached reply is served again only for a turn that would have produced the
same reply. The key therefore holds everything the reply depends on:

- the question, normalised (:mod:`~voice_agent_cli.buffer.normalize`);
- the LLM (``provider:model``) and a digest of the system prompt;
- the conversation, when the question depends on it. With ``context = "auto"``
  (the default) a question is a *follow-up* when it is two words or fewer
  ("why?", "and Spain?"), opens with a linking word ("and", "but", "what
  about"), or refers back with a pronoun ("it", "that", "they", "there",
  "again", "my"...). A follow-up's key adds the speaker and a digest of the
  last ``context_messages`` messages, so it hits only in the same
  conversation state; any other question is keyed on its words alone and is
  shared by every conversation. ``context = "history"`` keys every question on
  the history (safest, fewest hits); ``"none"`` never does (most hits, for
  single-question kiosks).

Some replies are never cached, whatever the key:

- questions matching ``uncacheable_patterns`` (time, weather, news, chance...);
- replies that used a tool matching ``uncacheable_tools`` (by default ``*``:
  any tool, since a tool may have side effects or read the time); a profile
  whose tools are pure can narrow the list (``["send_*", "get_time"]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import translate
from hashlib import blake2b
from typing import TYPE_CHECKING, Literal

from voice_agent_cli.buffer.settings import DEFAULT_UNCACHEABLE_PATTERNS
from voice_agent_cli.contracts.messages import ChatMessage, ToolCall

if TYPE_CHECKING:
    from voice_agent_cli.buffer.settings import CacheSettings
    from voice_agent_cli.contracts.turns import TurnContext

#: Bumped when the key's recipe changes, so old entries simply stop matching.
KEY_VERSION = "1"

ContextRule = Literal["auto", "history", "none"]

#: Words that point back at something said earlier.
REFERRING_WORDS = frozenset(
    {
        "it", "its", "itself", "that", "this", "these", "those", "they", "them", "their",
        "theirs", "he", "him", "his", "she", "her", "hers", "there", "then", "again", "more",
        "else", "another", "other", "others", "same", "also", "too", "previous", "earlier",
        "above", "former", "latter", "one", "ones", "my", "mine", "myself", "our", "ours",
        "we", "us",
    }
)  # fmt: skip

#: Words that open a follow-up ("and in Spain?", "but why?").
LINKING_OPENERS = frozenset({"and", "but", "or", "so", "because", "then", "also"})
LINKING_PHRASES = (("what", "about"), ("how", "about"), ("why", "not"))

#: Questions this short lean on what came before ("why?", "how so?").
SHORT_FOLLOW_UP_WORDS = 2


@dataclass(frozen=True)
class CacheKey:
    """Where a reply is filed, and whether the conversation is part of it."""

    digest: str
    uses_history: bool


class CachePolicy:
    """Decides what is cacheable and computes keys (see the module doc for the rule)."""

    def __init__(
        self,
        *,
        context: ContextRule = "auto",
        context_messages: int = 6,
        uncacheable_tools: Iterable[str] = ("*",),
        uncacheable_patterns: Iterable[str] | None = None,
    ) -> None:
        self.context = context
        self.context_messages = context_messages
        tools = [translate(glob.lower()) for glob in uncacheable_tools]
        self._tools = re.compile("|".join(tools)) if tools else None
        if uncacheable_patterns is None:
            uncacheable_patterns = DEFAULT_UNCACHEABLE_PATTERNS
        patterns = list(uncacheable_patterns)
        self._questions = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        # The system prompt rarely changes: hash it once, not every turn.
        self._prompt_digests: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: CacheSettings) -> CachePolicy:
        """The policy a profile's ``[cache]`` section asks for."""
        return cls(
            context=settings.context,
            context_messages=settings.context_messages,
            uncacheable_tools=settings.uncacheable_tools,
            uncacheable_patterns=settings.uncacheable_patterns,
        )

    def question_is_cacheable(self, normalized: str) -> bool:
        """Whether an answer to this question may be reused at all."""
        return bool(normalized) and not (
            self._questions is not None and self._questions.search(normalized)
        )

    def tools_are_cacheable(self, calls: Sequence[ToolCall]) -> bool:
        """Whether a reply that used these tools may be reused."""
        if self._tools is None:
            return True
        return not any(self._tools.match(call.name.lower()) for call in calls)

    def depends_on_history(self, normalized: str) -> bool:
        """Whether the answer to this question depends on the conversation so far."""
        if self.context != "auto":
            return self.context == "history"
        words = normalized.split()
        if len(words) <= SHORT_FOLLOW_UP_WORDS:
            return True
        if words[0] in LINKING_OPENERS or tuple(words[:2]) in LINKING_PHRASES:
            return True
        return not REFERRING_WORDS.isdisjoint(words)

    def key(self, context: TurnContext, normalized: str) -> CacheKey:
        """The key of this turn's reply."""
        uses_history = self.depends_on_history(normalized)
        parts = [KEY_VERSION, context.llm, self._prompt_digest(context.system_prompt), normalized]
        if uses_history:
            parts.append(context.speaker or "")
            parts.append(history_digest(context.history[-self.context_messages :]))
        return CacheKey(_digest("\x1f".join(parts)), uses_history)

    def _prompt_digest(self, prompt: str) -> str:
        digest = self._prompt_digests.get(prompt)
        if digest is None:
            if len(self._prompt_digests) > 16:  # prompts come from profiles: a handful at most
                self._prompt_digests.clear()
            digest = self._prompt_digests[prompt] = _digest(prompt)
        return digest


def history_digest(messages: Sequence[ChatMessage]) -> str:
    """A digest of the messages that a follow-up's answer may depend on."""
    hasher = blake2b(digest_size=16)
    for message in messages:
        calls = [[call.name, call.arguments] for call in message.tool_calls]
        record = [message.role, message.speaker or "", message.content, calls]
        hasher.update(json.dumps(record, sort_keys=True, default=str).encode())
        hasher.update(b"\x1e")
    return hasher.hexdigest()


def _digest(text: str) -> str:
    return blake2b(text.encode(), digest_size=16).hexdigest()
