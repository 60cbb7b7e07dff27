"""Import the native inference libraries one at a time, whichever thread asks first.

numpy's C extension fails ("partially initialized module") when two threads
import it for the first time at once, and the libraries built on OpenMP
(onnxruntime, CTranslate2, llama.cpp) hung a ``va talk`` start-up when the
turn detector's thread loaded llama.cpp while the speech engines loaded: so
every background load goes through :func:`import_engine_modules` first.
"""

from __future__ import annotations

import importlib
import threading

from voice_agent_cli.speech.quiet import quiet_inference_logs

#: In dependency order: numpy first, then the libraries built on it.
ENGINE_MODULES = ("numpy", "onnxruntime", "faster_whisper", "piper", "llama_cpp")

_lock = threading.Lock()


def import_engine_modules() -> None:
    """Import the speech and LLM libraries, one after the other. Blocking: run it in a thread."""
    with _lock:
        for name in ENGINE_MODULES:
            importlib.import_module(name)
        quiet_inference_logs()  # their warnings belong in no terminal
