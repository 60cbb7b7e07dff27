"""Keeping native libraries' chatter off the user's terminal, and in va's log instead.

C and C++ libraries write straight to file descriptor 2, past Python's
``sys.stderr`` and va's logging: ALSA (``ALSA lib pcm.c:8570:(snd_pcm_recover)
underrun occurred``), PortAudio and JACK while devices are probed, onnxruntime
and CTranslate2 warnings. Each gets the narrowest fix that works:

- ALSA: :func:`silence_alsa` installs an error handler
  (``snd_lib_error_set_handler``) that sends its reports to the ``va.audio``
  logger at DEBUG, whichever thread they come from (PortAudio's callback
  thread, mid-session);
- onnxruntime and CTranslate2: :func:`quiet_inference_logs` keeps their
  loggers to errors;
- PortAudio, JACK and whatever a device prints while it is probed, opened or
  closed: :func:`captured_stderr` points fd 2 at a temporary file for the
  call, then logs the lines that are library noise and writes anything else
  (a Python traceback, a message of va's own) back to stderr, so nothing of
  va's is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger("va.audio")

#: Lines that native audio libraries print on their own (logged, never shown).
_NOISE = re.compile(
    r"^(ALSA lib |Expression '|Cannot connect to server|jack server|JackShm|"
    r"Jack(Client|Server|Socket)|Cannot lock down|PaAlsa|"
    r"\[[WEI]:onnxruntime|\[\d{4}-\d\d-\d\d .*\] \[ctranslate2\])",
    re.IGNORECASE,
)

# ALSA's handler is variadic: (file, line, function, err, fmt, ...). ctypes cannot
# declare that; the first variadic argument travels where a sixth one would
# (registers on x86-64 and arm64, the stack on i386), and it is read only when the
# format says it is a string.
_ALSA_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
    ctypes.c_void_p,
)  # fmt: skip
_CONVERSION = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[hlLqjzt]*[a-zA-Z%]")
_alsa_handler: Any = None  # kept referenced: ALSA calls it for the life of the process
_capture_lock = threading.RLock()
_capture_depth = 0


def silence_alsa() -> bool:
    """Send ALSA's error reports to the log instead of stderr (once); False without ALSA."""
    global _alsa_handler
    if _alsa_handler is not None:
        return True
    name = ctypes.util.find_library("asound")
    if name is None:
        return False
    try:
        library = ctypes.CDLL(name)
        handler = _ALSA_HANDLER(_alsa_report)
        library.snd_lib_error_set_handler(handler)
    except (OSError, AttributeError):
        return False
    _alsa_handler = handler
    return True


def _alsa_report(
    file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None, arg: int
) -> None:
    try:
        text = (fmt or b"").decode(errors="replace")
        first = _CONVERSION.search(text)
        if first is not None and first.group().endswith("s") and arg:
            value = ctypes.string_at(arg).decode(errors="replace")
            text = text[: first.start()] + value + text[first.end() :]
        where = f"{(file or b'?').decode()}:{line}:({(function or b'?').decode()})"
        logger.debug("ALSA lib %s %s", where, text, extra={"alsa_error": err})
    except Exception:
        pass  # an exception must never unwind into C


def quiet_inference_logs() -> None:
    """Only errors from onnxruntime (Silero VAD, piper) and CTranslate2 (Whisper)."""
    with contextlib.suppress(ImportError, AttributeError):
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)  # 3: errors only
    with contextlib.suppress(ImportError, AttributeError):
        import ctranslate2

        ctranslate2.set_log_level(logging.ERROR)


@contextlib.contextmanager
def captured_stderr() -> Iterator[None]:
    """Catch what native code writes to fd 2 in the block: noise to the log, the rest back.

    Nested and concurrent uses share one capture (the outermost one restores fd 2).
    """
    global _capture_depth
    with _capture_lock:
        _capture_depth += 1
        outer = _capture_depth == 1
        if outer:
            saved, capture = _redirect()
    try:
        yield
    finally:
        with _capture_lock:
            _capture_depth -= 1
            if outer:
                _restore(saved, capture)


def _redirect() -> tuple[int, Any]:
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    capture = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _restore
    saved = os.dup(2)
    os.dup2(capture.fileno(), 2)
    return saved, capture


def _restore(saved: int, capture: Any) -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    capture.seek(0)
    text = capture.read().decode(errors="replace")
    capture.close()
    passed = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if _NOISE.search(line):
            logger.debug("native: %s", line)
        else:
            passed.append(line)
    if passed:
        sys.stderr.write("\n".join(passed) + "\n")
        sys.stderr.flush()
