"""A fake clock for cooldown tests: time moves only when the test says so."""

from __future__ import annotations

import time


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
