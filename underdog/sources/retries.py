"""The retry policy every HTTP source shares: bounded tries, exponential backoff with jitter."""

from __future__ import annotations

from collections.abc import Callable

import tenacity


def retry_policy(tries: int, backoff_s: float,
                 retryable: Callable[[BaseException], bool]) -> tenacity.Retrying:
    """Retry what `retryable` accepts (5xx, 429, timeouts...), `tries` times at most, waiting
    backoff_s, 2 x backoff_s, ... (at most 30 s) plus jitter; then re-raise the last error."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retryable),
        stop=tenacity.stop_after_attempt(tries),
        wait=tenacity.wait_exponential_jitter(multiplier=backoff_s, max=30, jitter=backoff_s),
        reraise=True,
    )
