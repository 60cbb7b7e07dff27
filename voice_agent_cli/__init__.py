"""va: a voice agent for the terminal.

The public surface for programs that embed va:

- :class:`voice_agent_cli.core.agent.Agent`, the agent core, and its events in
  :mod:`voice_agent_cli.contracts.events`;
- :func:`voice_agent_cli.config.load_settings` and
  :func:`voice_agent_cli.compose.agent.open_agent` to build one from a profile;
- :mod:`voice_agent_cli.errors`, the exception tree.

Imports stay lazy here so that ``va --help`` is instant.
"""

__version__ = "0.1.0"
