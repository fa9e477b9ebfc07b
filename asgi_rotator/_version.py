"""The package version, in its own module so the config can name it without importing the package."""

from __future__ import annotations

__version__ = "0.1.0"
