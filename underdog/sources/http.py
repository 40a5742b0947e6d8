"""HTTP for every source: one retry policy, one way to give up, one JSON client.

- `retry_policy`: bounded tries, exponential backoff with jitter (at most 30 s), or the
  server's Retry-After when a `Transient` carries a longer one; then the last error.
- `Transient`: an answer worth another attempt (429, 5xx, a proxy's page instead of the
  data). `raise_transient(response)` raises it for 429/5xx. Timeouts, connection errors and
  cut-off bodies are retried too (`retryable`).
- `with_retries(fn, ...)`: calls `fn` under the policy; `GaveUp` (the last error and the
  number of attempts) when retries are exhausted or requests failed otherwise. Each source
  turns that into its own "unavailable" error, with its key scrubbed.
- `JsonApi`: GET JSON from one API (the news sources), with request spacing, refusals and
  rate limits sent as normal answers, and the key masked in every message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import requests
import tenacity

from underdog.redaction import redact
from underdog.sources.documents import RateLimited, SourceError, SourceUnavailable

T = TypeVar("T")
TRIES = 5  # attempts per request, the first included: every client's default
BACKOFF_S = 0.5  # the first wait; doubles per retry
MAX_WAIT_S = 30.0  # the backoff's ceiling
MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After ends this run's attempts: the next run retries


class Transient(Exception):
    """Worth another attempt: 429, 5xx (with the server's Retry-After, if any)."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class GaveUp(Exception):
    """No usable answer: `cause` is the last error, after `attempts` attempts."""

    def __init__(self, cause: BaseException, attempts: int) -> None:
        super().__init__(f"no usable answer after {attempts} attempt(s): {cause}")
        self.cause = cause
        self.attempts = attempts


def is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def raise_transient(response: requests.Response, detail: str = "") -> None:
    """`Transient("HTTP <status> <reason><detail>")` for a 429 or 5xx answer."""
    if is_transient(response.status_code):
        raise Transient(f"HTTP {response.status_code} {response.reason}{detail}",
                        status=response.status_code)


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, Transient | requests.Timeout | requests.ConnectionError
                      | requests.exceptions.ChunkedEncodingError)


def retry_policy(tries: int, backoff_s: float,
                 retry_on: Callable[[BaseException], bool] = retryable) -> tenacity.Retrying:
    """Retry what `retry_on` accepts, `tries` times at most, waiting backoff_s,
    2 x backoff_s, ... (at most 30 s) plus jitter, or a Transient's longer Retry-After;
    then re-raise the last error."""
    backoff = tenacity.wait_exponential_jitter(multiplier=backoff_s, max=MAX_WAIT_S,
                                               jitter=backoff_s)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after_s", None)
        return max(backoff(state), after) if after is not None else backoff(state)

    return tenacity.Retrying(retry=tenacity.retry_if_exception(retry_on),
                             stop=tenacity.stop_after_attempt(tries), wait=wait, reraise=True)


def with_retries(fn: Callable[..., T], *args: object, tries: int, backoff_s: float) -> T:
    """`fn(*args)` under the policy; `GaveUp` once it is spent (or requests failed
    otherwise). Other errors (a source's refusal) pass through at once."""
    retrying = retry_policy(tries, backoff_s)
    try:
        return retrying(fn, *args)
    except (Transient, requests.RequestException) as exc:
        raise GaveUp(exc, retrying.statistics.get("attempt_number", 1)) from exc


# ---------------------------------------------------------------- JSON APIs


@dataclass
class JsonApi:
    """GET JSON from one API with retries and a minimum spacing between requests.

    `refusal(status, body)` turns an API's error body into a message (None: not an error);
    `rate_limit(body)` recognises a rate limit sent as a normal answer (Alpha Vantage).
    `secret` (the key, in the query string or a header) is masked in every error message:
    requests puts the URL, and a header value it refuses, in its exception texts.
    """

    name: str
    session: requests.Session
    tries: int = TRIES
    backoff_s: float = BACKOFF_S
    timeout_s: float = 30.0
    min_interval_s: float = 0.0
    refusal: Callable[[int, object], str | None] = lambda status, body: None
    rate_limit: Callable[[object], str | None] = lambda body: None
    secret: str = ""
    _last: float = field(default=0.0, init=False)

    def get(self, url: str, params: Mapping[str, object],
            headers: Mapping[str, str] | None = None) -> object:
        try:
            return with_retries(self._get, url, params, headers or {}, tries=self.tries,
                                backoff_s=self.backoff_s)
        except GaveUp as exc:
            cause = exc.cause
            if isinstance(cause, Transient):
                kind = RateLimited if cause.status == 429 else SourceUnavailable
                raise kind(self._mask(f"{self.name}: {cause} after {exc.attempts} "
                                      f"attempt(s)")) from None
            message = f"{self.name}: {type(cause).__name__}: {cause}"
            raise SourceUnavailable(self._mask(message)) from None
        except SourceError as exc:
            raise type(exc)(self._mask(str(exc))) from None

    def _mask(self, text: str) -> str:
        # Stripped too: requests shows a key with a stray newline as its repr ('key\\n').
        return redact(text, {self.secret, self.secret.strip()} - {""})

    def _get(self, url: str, params: Mapping[str, object], headers: Mapping[str, str]) -> object:
        self._space()
        response = self.session.get(url, params=dict(params), headers=dict(headers),
                                    timeout=self.timeout_s)
        body = _json(response)
        status = response.status_code
        if is_transient(status):
            message = f"HTTP {status} {_brief(self.refusal(status, body), response)}"
            after = _retry_after(response)
            if after is not None and after > MAX_RETRY_AFTER_S:
                raise RateLimited(f"{self.name}: {message}, retry after {after:.0f} s")
            raise Transient(message, status=status, retry_after_s=after)
        refused = self.refusal(status, body)
        if refused is not None or status >= 400:
            raise SourceUnavailable(f"{self.name}: HTTP {status}: {_brief(refused, response)}")
        if body is None:
            raise SourceUnavailable(f"{self.name}: HTTP {status} without a JSON body")
        limited = self.rate_limit(body)
        if limited is not None:
            raise RateLimited(f"{self.name}: {limited}")
        return body

    def _space(self) -> None:
        """Keep `min_interval_s` between requests (the APIs' per-second limits)."""
        wait = self._last + self.min_interval_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _brief(message: str | None, response: requests.Response) -> str:
    return message or response.reason or response.text[:200]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:  # an HTTP date: rare for these APIs; fall back to the backoff
        return None
