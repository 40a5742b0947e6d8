"""Alpha Vantage INSIDER_TRANSACTIONS: a ticker's insider trades as JSON.

`GET <base>/query?function=INSIDER_TRANSACTIONS&symbol=IBM&apikey=...` answers
`{"data": [{"transaction_date", "ticker", "executive", "executive_title", "security_type",
"acquisition_or_disposal", "shares", "share_price"}, ...]}`, numbers as strings.

Alpha Vantage reports its rate limits with HTTP 200 and a body `{"Note": "..."}` (calls per
minute) or `{"Information": "..."}` (daily cap, premium-only): that is not data, and it is
raised as `AlphaVantageRateLimited` with Alpha Vantage's own message, never read as "no
trades". `{"Error Message": ...}` (unknown symbol, bad call) is `AlphaVantageError`.
429/5xx, timeouts and connection errors are retried; if they persist,
`AlphaVantageUnavailable`. The key is scrubbed from every message.
"""

from __future__ import annotations

import requests

from underdog.reference.endpoints import ALPHAVANTAGE_URL as DEFAULT_BASE_URL
from underdog.sources.http import (
    BACKOFF_S,
    TRIES,
    GaveUp,
    raise_transient,
    with_retries,
)

FIELDS = ("transaction_date", "ticker", "executive", "executive_title", "security_type",
          "acquisition_or_disposal", "shares", "share_price")


class AlphaVantageRateLimited(RuntimeError):
    """A 200 whose body is Alpha Vantage's rate-limit notice, not data."""


class AlphaVantageError(ValueError):
    """Alpha Vantage refused the call (its "Error Message"), or answered in another shape."""


class AlphaVantageUnavailable(RuntimeError):
    """No usable answer after retries."""


class AlphaVantageInsider:
    label = "alphavantage"

    def __init__(self, api_key: str, *, base_url: str = DEFAULT_BASE_URL,
                 session: requests.Session | None = None, tries: int = TRIES,
                 backoff_s: float = BACKOFF_S, timeout_s: float = 30.0) -> None:
        if not api_key:
            raise AlphaVantageError("no Alpha Vantage key: set UNDERDOG_ALPHAVANTAGE_API_KEY")
        self.api_key = api_key
        self.url = base_url.rstrip("/") + "/query"
        self.session = session or requests.Session()
        self.tries, self.backoff_s, self.timeout_s = tries, backoff_s, timeout_s

    def transactions(self, symbol: str) -> list[dict[str, str]]:
        """The ticker's insider transactions, as Alpha Vantage lists them."""
        body = self._get({"function": "INSIDER_TRANSACTIONS", "symbol": symbol.upper()})
        for notice in ("Note", "Information"):
            if notice in body:
                raise AlphaVantageRateLimited(f"{symbol}: {body[notice]}")
        if "Error Message" in body:
            raise AlphaVantageError(f"{symbol}: {body['Error Message']}")
        if not isinstance(body.get("data"), list):
            raise AlphaVantageError(f"{symbol}: unexpected answer with keys {sorted(body)}")
        return [{k: row.get(k) for k in FIELDS} for row in body["data"]]

    def _get(self, params: dict[str, str]) -> dict:
        try:
            return with_retries(self._once, params, tries=self.tries, backoff_s=self.backoff_s)
        except GaveUp as exc:
            # `from None`: the original text carries the URL with the key.
            raise AlphaVantageUnavailable(self._scrub(
                f"{params['function']} {params['symbol']}: {exc}")) from None

    def _once(self, params: dict[str, str]) -> dict:
        response = self.session.get(self.url, params={**params, "apikey": self.api_key},
                                    timeout=self.timeout_s)
        raise_transient(response)
        status = response.status_code
        if status != 200:
            raise AlphaVantageError(self._scrub(f"{params['symbol']}: HTTP {status} "
                                                f"{response.reason}"))
        try:
            body = response.json()
        except ValueError:
            raise AlphaVantageError(f"{params['symbol']}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise AlphaVantageError(f"{params['symbol']}: the answer is not a JSON object")
        return body

    def _scrub(self, text: str) -> str:
        return text.replace(self.api_key, "***")
