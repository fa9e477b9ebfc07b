"""Identifiers that must be unique, not secret: request ids, lease holders, fresh session names.

``secrets`` asks the kernel for every id (a system call each, about 3 % of a request's CPU for the three a
request needs); these come from a generator of the gateway's own, seeded from the kernel at import and
again in a forked child, so workers and replicas never share a sequence (and a host's ``random.seed`` does
not touch it). Anything a client could use as a handle to stored data (response ids) stays on ``secrets``.
"""

from __future__ import annotations

import os
import random

_generator = random.Random()
os.register_at_fork(after_in_child=_generator.seed)


def unique_hex(nbytes: int) -> str:
    """``nbytes`` random bytes as ``2 * nbytes`` hex digits."""
    return f"{_generator.getrandbits(nbytes * 8):0{nbytes * 2}x}"
