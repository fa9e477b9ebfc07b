"""Upstream I/O: the executor, one attempt's pipeline, the HTTP transport and the failure bookkeeping."""

from __future__ import annotations
