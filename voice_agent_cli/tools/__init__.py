"""Tools the agent can call: in-process functions and MCP servers, behind one interface."""
