"""Per-principal token buckets: `burst` requests at once, then `rate_per_s` sustained.

One limiter per gateway process, used only from its event loop (no locks). With N replicas a principal can
reach N times the rate; the ingress in front of them (kustomize/base/gateway/ingress.yaml) bounds the total.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiprime.errors import RateLimited

_MAX_KEYS = 100_000  # buckets kept; full (idle) ones are dropped first when the table grows past this


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets keyed by principal (or `ip:<address>` before authentication)."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        """Args: clock is injectable so tests need not sleep."""
        self.rate, self.burst, self.clock = rate_per_s, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> None:
        """Spend one token of `key`'s bucket, or raise RateLimited with the wait until the next one."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._drop_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / self.rate
            raise RateLimited(
                f"{key} sent more than {self.rate:g} requests/s (burst {self.burst}); retry in "
                f"{wait:.2f} s, or ask an operator to raise AIPRIME_GATEWAY_RATE_PER_S.",
                wait,
            )
        bucket.tokens -= 1

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled: they behave exactly like new ones."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]
