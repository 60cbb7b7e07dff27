"""va's tests, one file per module or subsystem they test.

Names mirror the package: ``test_<package>_<module>.py`` (``test_core_agent.py``
for ``core/agent.py``, ``test_tools_mcp.py`` for ``tools/mcp.py``); cross-cutting
behaviour has a name of its own (``test_faults.py``, ``test_properties.py``,
``test_architecture.py``). Shared code: ``*_fixtures.py`` hold pytest fixtures
(imported by ``conftest.py``), ``*_helpers.py`` plain functions and classes.
"""
