"""LLM providers behind one interface (:class:`voice_agent_cli.llm.base.LLM`)."""
