"""Tools the agent can call: in-process functions and MCP servers, behind one interface.

- :mod:`.base`: the :class:`~.base.ToolProvider` seam and :class:`~.base.FunctionTools`;
- :mod:`.mcp`: :class:`~.mcp.MCPTools`, every MCP server of a profile as one provider;
- :mod:`.connection`: one server's life (start, list, call, restart) and
  :mod:`.health`, its state; :mod:`.transport`, :mod:`.launch`: how it is reached;
- :mod:`.names`, :mod:`.schema`, :mod:`.results`: what crosses the LLM and SDK boundaries;
- :mod:`.settings`: the ``[mcp]`` profile section;
- :mod:`.server`: va's own MCP server, with :mod:`.clock`, :mod:`.calculator`, :mod:`.notes`.

Nothing is imported here: ``va --help`` must not pay for the ``mcp`` SDK.
"""
