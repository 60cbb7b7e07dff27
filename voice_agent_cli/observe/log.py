"""Logs: JSON lines with correlation ids, and never a secret or personal data in them.

Every component logs with the standard :mod:`logging` module on a logger under
``va.`` (``va.agent``, ``va.buffer``, ``va.tools`` ...). :func:`configure`
routes them, and the third-party loggers, to a JSON-lines file under
``VA_HOME/logs`` and to stderr (text, or JSON with ``--log-format json``).

Correlation: every record, whoever logs it, carries the session and turn ids
in force (:mod:`.ids`), and the trace and span ids when tracing is on.

Redaction (:mod:`.redaction`) happens in a filter on every handler, so nothing
reaches a log that did not go through it.

Of third-party code only platformdirs comes in here (through :mod:`voice_agent_cli.paths`);
OpenTelemetry only when tracing is on.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from voice_agent_cli.errors import UsageError
from voice_agent_cli.observe import tracing
from voice_agent_cli.observe.ids import correlation
from voice_agent_cli.observe.redaction import REDACTOR, Redactor
from voice_agent_cli.paths import ensure_dir, open_private, va_home

# --- records and formats -------------------------------------------------------------

# Attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "session_id", "turn_id", "trace_id", "span_id", "va_redacted"}
)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


class ContextFilter(logging.Filter):
    """Adds the correlation ids, and redacts the message, arguments and extras.

    Attached to every handler va installs, so a record from any logger (ours
    or a library's) is redacted before any formatter sees it.
    """

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "va_redacted", False):
            return True  # a record reaching a second handler is already clean
        for name, value in correlation().items():
            if not getattr(record, name, None):
                setattr(record, name, value)

        for name, value in tracing.current_ids().items():
            setattr(record, name, value)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        record.exc_info = None  # only the redacted text may be printed
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        for key, value in _extras(record).items():
            setattr(record, key, self.redactor.redact_value(value))
        record.va_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("session_id", "turn_id", "trace_id", "span_id"):
            value = getattr(record, name, None)
            if value:
                data[name] = value
        data.update(_extras(record))
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS.mmm LEVEL logger: message [session turn]`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        clock = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        ids = " ".join(
            f"{name.split('_')[0]}={value}"
            for name in ("session_id", "turn_id")
            if (value := getattr(record, name, None))
        )
        line = f"{clock} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if ids:
            line += f" [{ids}]"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


# --- configuration --------------------------------------------------------------------

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Libraries that log every request at INFO/DEBUG: kept at WARNING or above.
NOISY_LOGGERS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "urllib3",
    "google_genai",
    "google.auth",
    "asyncio",
    "mcp",
    "livekit",
    "faster_whisper",
    "opentelemetry",
    "filelock",
)


def parse_level(level: str | int) -> int:
    """A level name (any case) or number as a :mod:`logging` level."""
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name not in LEVELS:
        raise UsageError(f"unknown log level {level!r} (one of: {', '.join(LEVELS).lower()})")
    return int(logging.getLevelName(name))


def default_log_file() -> Path:
    """``VA_HOME/logs/va.log``."""
    return va_home() / "logs" / "va.log"


@dataclass
class LoggingSetup:
    """What :func:`configure` installed, so that :meth:`close` can take it away."""

    level: int
    file: Path | None
    handlers: list[logging.Handler] = field(default_factory=list)
    _saved_levels: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        """Flush and remove the handlers; restore the levels that were changed.

        Never raises: a log that cannot be flushed (a full disk) is not a
        reason for a command to fail.
        """
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
            with suppress(OSError, ValueError):
                handler.close()
        self.handlers.clear()
        for name, level in self._saved_levels.items():
            logging.getLogger(name or None).setLevel(level)
        self._saved_levels.clear()


_ACTIVE: list[LoggingSetup] = []


def configure(
    level: str | int = "WARNING",
    *,
    fmt: str = "text",
    file: Path | bool | None = True,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> LoggingSetup:
    """Route every log record through redaction to a JSON file and to ``stream``.

    ``level`` applies to va's loggers and to both outputs; third-party loggers
    in :data:`NOISY_LOGGERS` stay at WARNING or above. ``file=True`` means
    :func:`default_log_file`; ``False``/``None`` writes no file. A previous
    setup of this process is closed first, so configuring twice never doubles
    the output.
    """
    if fmt not in ("text", "json"):
        raise UsageError(f"unknown log format {fmt!r} (text or json)")
    while _ACTIVE:
        _ACTIVE.pop().close()
    numeric = parse_level(level)
    REDACTOR.add_environment_secrets()
    for secret in secrets:
        REDACTOR.add_secret(secret)

    path = default_log_file() if file is True else (file or None)
    setup = LoggingSetup(level=numeric, file=path)
    root = logging.getLogger()
    for name in ("", "va"):
        setup._saved_levels[name] = logging.getLogger(name or None).level
    root.setLevel(numeric)
    logging.getLogger("va").setLevel(numeric)
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        setup._saved_levels[name] = logger.level
        logger.setLevel(max(numeric, logging.WARNING))
        _silence_last_resort(logger)

    console = _ConsoleHandler(stream or sys.stderr)
    console.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if numeric > logging.DEBUG:
        console.addFilter(_own_records)
    setup.handlers.append(console)
    if path is not None:
        file_handler = _file_handler(path)
        if file_handler is not None:
            file_handler.setFormatter(JsonFormatter())
            setup.handlers.append(file_handler)
    for handler in setup.handlers:
        handler.setLevel(numeric)
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    _ACTIVE.append(setup)
    return setup


def _silence_last_resort(logger: logging.Logger) -> None:
    """Keep ``logger`` off :data:`logging.lastResort` for good.

    A library thread may log after va has closed its handlers (the LiveKit
    SDK's Rust side reports a refused connection a moment after va has said
    so itself); with no handler left, Python would print that record bare on
    stderr. A NullHandler stays attached: records still propagate to va's
    handlers while they exist, and vanish once they are gone.
    """
    if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _own_records(record: logging.LogRecord) -> bool:
    """Only va's own records reach the terminal (below DEBUG): libraries go to the file.

    A library's complaint is either translated into va's own one-line error
    (the LiveKit SDK logs "error while connecting to a room" *after* va has
    said the server is unreachable, from its own thread) or it is noise; the
    log file keeps it for whoever investigates, and ``--log-level debug``
    shows everything.
    """
    return record.name == "va" or record.name.startswith("va.")


class _ConsoleHandler(logging.StreamHandler):
    """Log lines on stderr; if stderr itself is gone, records are dropped without a word."""

    def handleError(self, record: logging.LogRecord) -> None:
        # The default prints "--- Logging error ---" and a traceback to the very
        # stream that failed; there is nowhere left to say anything.
        pass


class _LogFile(logging.handlers.RotatingFileHandler):
    """The JSON-lines log file: private (0600), and it never makes a command fail.

    When a write fails (a full disk, an I/O error), one line on stderr says so
    and file logging stops for the rest of the run; the command goes on.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8", delay=True)
        self.failed = False

    def _open(self) -> Any:
        return open_private(Path(self.baseFilename), "a", encoding="utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or type(error).__name__
        with suppress(OSError, ValueError):
            sys.stderr.write(
                f"va: warning: cannot write the log file {self.baseFilename} ({reason}); "
                "logging to it stopped for this run\n"
            )

    def close(self) -> None:
        try:
            super().close()
        except (OSError, ValueError):
            # Flushing what was buffered failed (the disk is full): the file is closed
            # all the same, and what could not be written is lost, not raised.
            self.stream = None


def _file_handler(path: Path) -> logging.Handler | None:
    """A rotating JSON-lines file (5 MB x 3); ``None`` if it cannot be opened."""
    try:
        ensure_dir(path.parent)
        return _LogFile(path)
    except OSError as exc:
        # Logging is never a reason for a command to fail; say so once on stderr.
        sys.stderr.write(f"va: warning: cannot write the log file {path}: {exc.strerror}\n")
        return None
