"""Composition: the one place above the layers where settings become running parts.

- :mod:`.agent`: the agent (LLM or failover chain, buffer, tools, experts,
  rate limits) and the observer that measures it;
- :mod:`.rooms`: the room agent of ``va join`` and its answer policy.

Speech engines are built by :mod:`voice_agent_cli.speech.build`. The layers
below never read a profile; the commands (:mod:`voice_agent_cli.cli`) only call
these builders and run what they return.
"""
