"""Fakes for tests, benchmarks and programs that embed va.

They are real implementations of va's seams that need no model, network or
device: a :class:`FakeLLM` that answers from a script with a configurable
latency, and (in :mod:`voice_agent_cli.testing.fake_gemini`) a local
Gemini-compatible HTTP server that the real google-genai SDK can talk to.
"""

from voice_agent_cli.testing.fake_llm import FakeLLM

__all__ = ["FakeLLM"]
