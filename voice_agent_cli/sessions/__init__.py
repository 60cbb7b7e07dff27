"""Sessions: conversations that outlive their process and move between processes.

::

    a turn ends ─► Session.record ─► privacy.stored(text) ─► store.append ─► seq 1, 2, 3 ...
                                                                 │
                     SQLite file under VA_HOME (default) ◄───────┤
                     a shared Redis ([cache] or [sessions]) ◄────┘

    va chat --continue / --session ID ─► Session.resume ─► Session.history
        ─► the last turns, bounded like a live Conversation ─► the LLM's history

A session is one conversation (a chat, a talk loop, the agent in a room) with
an id, its times, its kind, its profile and LLM, and its numbered turns. The
store decides each turn's number atomically, so several processes may append
to one session at once without losing or repeating a turn. ``va sessions``
lists, shows, exports and deletes them (texts shown redacted).
"""

from voice_agent_cli.sessions.build import open_session_store
from voice_agent_cli.sessions.model import SessionInfo, SessionKind, SessionTurn, new_session_id
from voice_agent_cli.sessions.session import Session, history_from_turns
from voice_agent_cli.sessions.store import SessionStore, latest, resolve

__all__ = [
    "Session",
    "SessionInfo",
    "SessionKind",
    "SessionStore",
    "SessionTurn",
    "history_from_turns",
    "latest",
    "new_session_id",
    "open_session_store",
    "resolve",
]
