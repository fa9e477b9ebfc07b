"""Taking one of a bounded number of slots (upstream connections, Redis connections) within a bounded wait."""

from __future__ import annotations

import asyncio


async def take_slot(slots: asyncio.Semaphore, wait: float) -> bool:
    """Take one of ``slots``, waiting at most ``wait`` seconds for one to free up; False when none did.

    A free slot is taken without suspending or arming a timer: this runs for every upstream request and every
    Redis command, and ``asyncio.timeout`` alone costs several microseconds.
    """
    if not slots.locked():
        await slots.acquire()  # free: returns without suspending
        return True
    try:
        async with asyncio.timeout(wait):
            await slots.acquire()
    except TimeoutError:
        return False
    return True
