"""The small shared vocabulary every layer may import, and nothing else.

- :mod:`.messages`: chat messages, tool specs, calls and results;
- :mod:`.events`: the typed events of a turn and their stage timings;
- :mod:`.turns`: what the agent and the response buffer exchange;
- :mod:`.secrets`: a secret that never prints itself.

These modules import only the standard library and each other, so a provider,
a store or a screen can speak the agent's language without importing the agent.
"""
