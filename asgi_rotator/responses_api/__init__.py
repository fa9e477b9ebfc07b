"""Responses API state: stored responses and the lineage a previous_response_id replays."""

from __future__ import annotations
