"""A provider whose import fails, as a plugin with a missing dependency would."""

import va_example_dependency_that_is_not_installed  # noqa: F401

provider = None
