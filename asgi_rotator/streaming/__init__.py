"""Stream helpers that work on canonical events, independent of any wire protocol."""

from __future__ import annotations
