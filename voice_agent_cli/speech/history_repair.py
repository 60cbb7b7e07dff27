"""The history after a turn that did not go as planned: cut off, or never meant to be.

The agent's core adds a turn's messages to the conversation as it goes (the
user's words, then the reply, or what the reply was when the turn was closed).
The voice loop knows better what happened:

- the user barged in: the history keeps what the user *heard* of the reply,
  marked interrupted (the core kept everything it had generated);
- the user had not finished (they spoke on while the agent thought, or a
  speculative reply started during a pause they ended by speaking again):
  the turn is forgotten, its words come back with the rest of the utterance.

A turn's messages are the ones added since :meth:`HistoryRepair.before_turn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice_agent_cli.contracts.messages import ChatMessage
    from voice_agent_cli.core.conversation import Conversation


class HistoryRepair:
    """Edits the messages of one turn of ``conversation`` after the fact."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self._before: tuple[ChatMessage, ...] = conversation.messages

    def turn_messages(self) -> list[ChatMessage]:
        """The messages this turn added to the history."""
        before = self._before
        return [m for m in self.conversation.messages if not any(m is b for b in before)]

    def forget_turn(self, text: str) -> None:
        """Forget the turn whose user message was ``text`` (a room may have shortened it)."""
        added = self._own_turn(text)
        if added:
            self.conversation.forget_from(added[0])

    def keep_heard_reply(self, text: str, heard: str) -> None:
        """Make the history hold what the user heard of the reply, marked interrupted."""
        added = self._own_turn(text)
        if not added:
            return
        last = added[-1]
        if last.role != "assistant" or last.tool_calls:
            return  # cut during a tool call: the core's record stands
        self.conversation.forget_from(last)
        self.conversation.add_assistant(heard, interrupted=True)

    def _own_turn(self, text: str) -> list[ChatMessage]:
        """This turn's messages, if they start with its user message (else none)."""
        added = self.turn_messages()
        if not added or added[0].role != "user" or not text:
            return []
        content = added[0].content
        return added if content and content.lower() in text.lower() else []
