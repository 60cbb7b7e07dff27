"""The ``va`` command line: one module per command, and the only layer that prints."""
