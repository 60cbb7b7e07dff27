"""The response buffer: pre-buffered replies and a cache of LLM replies, before the LLM.

The public surface:

- :func:`build_buffer` builds the buffer a profile asks for (``compose.agent``
  hands it to the agent);
- :class:`ResponseBuffer` is the agent's ``ReplyBuffer``;
- :func:`normalize` is how what people say is compared;
- :class:`CachePolicy` holds the caching rule (what is keyed, what is never cached).

docs/cache.md explains how it all fits. Imports stay light here: diskcache and
redis are imported only by the backend that is used.
"""

from voice_agent_cli.buffer.build import build_buffer, cache_directory, open_store
from voice_agent_cli.buffer.normalize import normalize
from voice_agent_cli.buffer.policy import CachePolicy
from voice_agent_cli.buffer.response_buffer import ResponseBuffer
from voice_agent_cli.buffer.stats import StatsSnapshot
from voice_agent_cli.buffer.store import CachedReply, ReplyStore

__all__ = [
    "CachePolicy",
    "CachedReply",
    "ReplyStore",
    "ResponseBuffer",
    "StatsSnapshot",
    "build_buffer",
    "cache_directory",
    "normalize",
    "open_store",
]
