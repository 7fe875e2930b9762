"""Fixtures shared by several test modules."""

from tests.plugin_install import install_plugin  # noqa: F401  (a fixture)
