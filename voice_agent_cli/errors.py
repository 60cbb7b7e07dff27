"""One exception tree for the whole of va.

Every failure a user can meet is a :class:`VAError`: it carries a one-line
message fit to print and the process exit code the CLI returns. Foreign
exceptions (google-genai, httpx, llama.cpp, PortAudio, mcp, livekit) are
translated into this tree at the boundary where they enter our code, so the
CLI never shows a traceback.

Exit codes (documented in the README):

====  =========================================================
0     success
1     a failure while doing the work (LLM error, tool error, ...)
2     usage or bad input (bad flag, bad profile, bad audio file)
3     a dependency is unavailable (no network, no audio device)
4     ``va bench``: a latency budget was missed
5     the LLM gave no answer: blocked by its safety filters, or empty
130   interrupted (Ctrl-C)
====  =========================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_BUDGET_MISSED = 4
EXIT_NO_ANSWER = 5
EXIT_INTERRUPTED = 130


class VAError(Exception):
    """Base of every error va raises on purpose.

    ``str(error)`` is the one-line message shown to the user; it must never
    contain a secret.
    """

    exit_code: int = EXIT_FAILURE
    #: The agent turn the error ended, when it ended one (for ``--json`` and logs).
    turn_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- usage and configuration -------------------------------------------------


class UsageError(VAError):
    """The user asked for something that cannot work as asked."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A profile, flag or environment variable has a bad value."""


# --- dependencies -------------------------------------------------------------


class DependencyUnavailable(VAError):
    """Something va relies on is not there (network, device, model file)."""

    exit_code = EXIT_UNAVAILABLE


class ModelUnavailable(DependencyUnavailable):
    """A local model file is missing or damaged."""


class ProviderUnavailable(DependencyUnavailable):
    """A provider (a plugin, usually) is installed but cannot be loaded."""


# --- the LLM ------------------------------------------------------------------


class LLMError(VAError):
    """An LLM provider failed. ``retryable`` tells the retry policy what to do.

    ``retry_after_s`` is how long the provider asked to wait before trying
    again (a 429's Retry-After), when it said.
    """

    retryable: bool = False

    def __init__(
        self, message: str, *, provider: str = "llm", retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.retry_after_s = retry_after_s


class LLMAuthError(LLMError):
    """The API key is missing, invalid or lacks permission."""

    exit_code = EXIT_USAGE


class LLMBadRequest(LLMError):
    """The provider rejected the request itself (400): retrying will not help."""


class LLMModelNotFound(LLMBadRequest):
    """The configured model does not exist there (retired, misspelt, not pulled)."""

    exit_code = EXIT_USAGE


class LLMQuotaError(LLMError):
    """Rate limited or out of quota (HTTP 429)."""

    retryable = True


class LLMServerError(LLMError):
    """The provider failed on its side (5xx) or sent something unreadable."""

    retryable = True


class LLMTimeout(LLMError):
    """The provider did not answer within the request timeout."""

    retryable = True


class LLMNoAnswer(LLMError):
    """The LLM answered with nothing: its safety filters blocked the prompt or the reply
    (``reason``: SAFETY, RECITATION, OTHER, ...), or the reply was empty."""

    exit_code = EXIT_NO_ANSWER

    def __init__(self, message: str, *, provider: str = "llm", reason: str = "EMPTY") -> None:
        super().__init__(message, provider=provider)
        self.reason = reason


class LLMConnectionError(LLMError):
    """The provider could not be reached at all."""

    retryable = True
    exit_code = EXIT_UNAVAILABLE


class CircuitOpenError(VAError):
    """A circuit breaker is open: the dependency is not called for a while."""

    exit_code = EXIT_UNAVAILABLE


class RateLimited(VAError):
    """A configured rate limit refused the request."""


# --- tools, audio, rooms, cache, sessions -------------------------------------


class ToolError(VAError):
    """A tool call failed, or the tool reported an error."""


class ToolServerUnavailable(DependencyUnavailable):
    """An MCP tool server could not be started or reached."""


class AudioError(UsageError):
    """An audio file cannot be read or has an unusable format."""


class AudioDeviceError(DependencyUnavailable):
    """No usable microphone or speaker."""


class RoomError(VAError):
    """Joining or staying in a LiveKit room failed."""


class RoomAuthError(RoomError):
    """The server or va refused the LiveKit token: wrong key or secret, expired, wrong room."""

    exit_code = EXIT_USAGE


class RoomUnavailable(RoomError):
    """The LiveKit server cannot be reached (refused, DNS, timeout) or the connection was lost."""

    exit_code = EXIT_UNAVAILABLE


class CacheError(VAError):
    """The response cache cannot be used."""


class CacheUnavailable(CacheError):
    """The reply cache's backend is down or unreadable (Redis gone, a damaged directory)."""

    exit_code = EXIT_UNAVAILABLE


class CacheWriteFailed(CacheError):
    """The reply cache's storage refused a write (disk full, I/O error): nothing was kept.

    The cache is not damaged and still answers lookups; the write is skipped.
    """


class CacheBusy(CacheError):
    """The reply cache is locked by another process for longer than a lookup may wait."""


class SessionError(VAError):
    """The session store cannot do what was asked."""


class SessionNotFound(SessionError):
    """No stored session has that id (or the prefix names several)."""

    exit_code = EXIT_USAGE


class SessionStoreUnavailable(SessionError):
    """The session store is down or unreadable (Redis gone, a damaged database)."""

    exit_code = EXIT_UNAVAILABLE


class SessionWriteFailed(SessionError):
    """The session store refused a write (disk full, locked too long): the turn was not kept."""


class BudgetMissed(VAError):
    """A ``va bench`` percentile is over its budget."""

    exit_code = EXIT_BUDGET_MISSED


class EvalFailed(VAError):
    """``va eval``: cases failed (or the pass rate is below ``--min-pass``)."""
