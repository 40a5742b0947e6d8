"""Dukascopy historical ticks: the public datafeed's hourly `.bi5` files.

Layout: `<base>/<SYMBOL>/<YYYY>/<MM>/<DD>/<HH>h_ticks.bi5`, UTC, with MM 0-based (January is
`00`). A file is LZMA "alone" compressed; inside, 20-byte big-endian records `>IIIff`:
milliseconds since the hour, ask and bid as integer points (price = points x the instrument's
point, `underdog.reference.instruments`), ask and bid volume as float32 in millions of base units.
Volumes are returned in the file's own unit.

What one hour can be:
- ticks;
- closed: HTTP 404 or an empty body (also a stream that holds no records). No ticks, and
  not an error: weekends, holidays and quiet hours look like this;
- corrupt: bad LZMA, a length that is not a whole number of records, offsets that go
  backwards or past the hour, a zero price, a negative or non-finite volume, or more than
  `MAX_RECORDS` records (a decompression bomb: a few KB that expand to gigabytes; it is
  decompressed incrementally and refused at the ceiling, never expanded), or a download
  larger than those records could be (`MAX_FILE_BYTES`, read no further). That hour fails
  (`Bi5Error`, reported as an `HourFailure`); the other hours still load;
- unavailable: 429/5xx, timeouts and connection errors are retried with exponential
  backoff (`tries` attempts in all); if they persist, or the server answers another HTTP
  error, `DukascopyUnavailable` is raised for the whole fetch. An hour that could not be
  read must not be written as an empty one: the caller replaces whole windows, so that
  would delete good rows.

Cache: fetched hours are kept under `cache_dir` in the datafeed's layout (an empty file for
a closed hour), written atomically and only once decoded, so a corrupt download is never
cached. Hours younger than `SETTLED_AFTER` are not cached: the feed may not have them yet.
"""

from __future__ import annotations

import lzma
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from underdog.reference.endpoints import DUKASCOPY_URL as DEFAULT_BASE_URL  # noqa: F401 (callers)
from underdog.reference.instruments import Instrument, get_instrument
from underdog.reference.schema import TICK_COLUMNS
from underdog.sources.http import (
    BACKOFF_S,
    TRIES,
    GaveUp,
    raise_transient,
    with_retries,
)

RECORD_SIZE = 20
RECORD = np.dtype([("ms", ">u4"), ("ask", ">u4"), ("bid", ">u4"),
                   ("ask_volume", ">f4"), ("bid_volume", ">f4")])
SETTLED_AFTER = timedelta(hours=3)
# The ceiling of one hour: a liquid pair's busiest hours hold tens of thousands of ticks.
MAX_RECORDS = 1_000_000
MAX_FILE_BYTES = MAX_RECORDS * RECORD_SIZE  # LZMA only shrinks records this regular
_MS_PER_HOUR = 3_600_000
_NS_PER_MS = 1_000_000
_HOUR = timedelta(hours=1)


class Bi5Error(ValueError):
    """A .bi5 file that cannot be trusted: its hour fails, the others still load."""


class DukascopyUnavailable(RuntimeError):
    """The datafeed did not answer (after retries) or refused: nothing may be written."""


@dataclass(frozen=True)
class HourFailure:
    """One hour that failed to decode, with what a person needs to look into it."""

    symbol: str
    hour: datetime
    url: str
    error: str

    def payload(self) -> dict[str, str]:
        return {"symbol": self.symbol, "hour": self.hour.isoformat(), "url": self.url,
                "error": self.error}


def hour_path(symbol: str, hour: datetime) -> str:
    """The hour's path in the datafeed (and the cache): month is 0-based."""
    month = hour.month - 1
    return f"{symbol}/{hour.year:04d}/{month:02d}/{hour.day:02d}/{hour.hour:02d}h_ticks.bi5"


# ---------------------------------------------------------------- decoding


def decode_bi5(data: bytes, *, symbol: str, hour: datetime,
               max_records: int = MAX_RECORDS) -> pd.DataFrame:
    """The ticks of one hour's file: columns TICK_COLUMNS, in file order (time-sorted).

    Empty `data` is a closed hour (no rows). Raises `Bi5Error` naming the symbol and hour
    when the file is corrupt or holds more than `max_records` records, ValueError for an
    unknown symbol or a bad `hour`.
    """
    instrument = get_instrument(symbol)
    start = _hour_start(hour)
    try:
        records = _records(_decompress(data, max_records * RECORD_SIZE))
        _check(records)
    except Bi5Error as exc:
        raise Bi5Error(f"{symbol} {start:%Y-%m-%dT%H}h: {exc}") from None
    return _frame(records, start, instrument)


def _hour_start(hour: datetime) -> pd.Timestamp:
    if hour.tzinfo is None or hour.tzinfo.utcoffset(hour) is None:
        raise ValueError(f"hour must be timezone-aware (UTC), got naive {hour!r}")
    start = pd.Timestamp(hour).tz_convert("UTC")
    if start != start.floor("h"):
        raise ValueError(f"hour must be on the hour, got {start.isoformat()}")
    return start


def _decompress(data: bytes, max_bytes: int) -> bytes:
    """The file's one LZMA stream, expanded to at most `max_bytes` (one byte more refuses)."""
    if not data:
        return b""
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)
    try:
        raw = decompressor.decompress(data, max_length=max_bytes + 1)
    except lzma.LZMAError as exc:
        raise Bi5Error(f"bad LZMA data ({len(data)} bytes): {exc}") from None
    if len(raw) > max_bytes:
        raise Bi5Error(f"{len(data):,} compressed bytes expand past {max_bytes:,} bytes "
                       f"({max_bytes // RECORD_SIZE:,} records, the ceiling of an hour): refused")
    if not decompressor.eof:
        raise Bi5Error(f"bad LZMA data ({len(data)} bytes): compressed data ended before the "
                       "end-of-stream marker was reached")
    return raw


def _records(raw: bytes) -> np.ndarray:
    if len(raw) % RECORD_SIZE:
        raise Bi5Error(f"{len(raw)} bytes is not a whole number of {RECORD_SIZE}-byte records")
    return np.frombuffer(raw, dtype=RECORD)


def _check(records: np.ndarray) -> None:
    """Raise on the first record that a sound file cannot hold."""
    ms = records["ms"].astype(np.int64)
    _first(ms >= _MS_PER_HOUR, ms, "offset {} ms is beyond the hour")
    _first(np.r_[False, np.diff(ms) < 0], ms, "offset {} ms goes back in time")
    for side in ("bid", "ask"):
        _first(records[side] == 0, ms, f"zero {side} price at {{}} ms")
    for side in ("bid_volume", "ask_volume"):
        volume = records[side].astype(np.float64)
        _first(~np.isfinite(volume) | (volume < 0), ms, f"invalid {side} at {{}} ms")


def _first(bad: np.ndarray, ms: np.ndarray, message: str) -> None:
    if bad.any():
        index = int(np.argmax(bad))
        raise Bi5Error(f"record {index}: " + message.format(int(ms[index])))


def _frame(records: np.ndarray, start: pd.Timestamp, instrument: Instrument) -> pd.DataFrame:
    time_ns = start.as_unit("ns").value + records["ms"].astype(np.int64) * _NS_PER_MS
    return pd.DataFrame({
        "time": pd.to_datetime(time_ns, unit="ns", utc=True).as_unit("ns"),
        "bid": _price(records["bid"], instrument),
        "ask": _price(records["ask"], instrument),
        "bid_volume": _volume(records["bid_volume"]),
        "ask_volume": _volume(records["ask_volume"]),
    })


def _price(points: np.ndarray, instrument: Instrument) -> np.ndarray:
    # Rounding to the quote's decimals gives the double closest to the decimal price.
    return np.round(points.astype(np.float64) * instrument.point, instrument.digits)


def _volume(values: np.ndarray) -> np.ndarray:
    # float32 -> its shortest decimal -> float64: 0.1f stays 0.1, not 0.10000000149.
    return values.astype(np.float32).astype(str).astype(np.float64)


def encode_bi5(ticks: pd.DataFrame, *, symbol: str, hour: datetime, preset: int = 6) -> bytes:
    """One hour of ticks (TICK_COLUMNS, time-sorted) as the datafeed's file: `decode_bi5`'s
    inverse. Empty `ticks` give b"" (a closed hour). ValueError for a tick outside the hour,
    a price off the instrument's grid or a missing volume: the format cannot carry them."""
    instrument = get_instrument(symbol)
    start = _hour_start(hour)
    if len(ticks) == 0:
        return b""
    ms = (pd.DatetimeIndex(ticks["time"]) - start) // pd.Timedelta(milliseconds=1)
    if ms.min() < 0 or ms.max() >= _MS_PER_HOUR:
        raise ValueError(f"{symbol}: ticks outside the hour {start:%Y-%m-%dT%H}h")
    records = np.empty(len(ticks), dtype=RECORD)
    records["ms"] = ms
    for side in ("bid", "ask"):
        prices = ticks[side].to_numpy(dtype=np.float64)
        points = np.rint(prices / instrument.point)
        if not np.array_equal(_price(points, instrument), prices):
            raise ValueError(f"{symbol}: {side} prices off the {instrument.point} grid")
        records[side] = points
    for side in ("bid_volume", "ask_volume"):
        volumes = ticks[side].to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(volumes).any():
            raise ValueError(f"{symbol}: missing {side}: a .bi5 record always has one")
        records[side] = volumes
    return lzma.compress(records.tobytes(), format=lzma.FORMAT_ALONE, preset=preset)


def empty_ticks() -> pd.DataFrame:
    """A frame with TICK_COLUMNS and their dtypes, no rows."""
    empty = np.empty(0, dtype=np.float64)
    return pd.DataFrame({
        "time": pd.to_datetime(np.empty(0, dtype=np.int64), unit="ns", utc=True).as_unit("ns"),
        **{column: empty for column in TICK_COLUMNS[1:]},
    })


# ---------------------------------------------------------------- fetching


def fetch_ticks(
    symbol: str,
    start: datetime,
    end: datetime,
    *,
    base_url: str,
    cache_dir: str | Path | None,
    session: requests.Session | None = None,
    tries: int = TRIES,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = 30.0,
) -> tuple[pd.DataFrame, list[HourFailure]]:
    """Ticks of `symbol` in [start, end) (time-sorted, TICK_COLUMNS) and the hours that failed.

    A corrupt hour is left out and reported; an unreachable feed raises `DukascopyUnavailable`
    (see the module docstring). `cache_dir` None or "" disables the cache.
    """
    get_instrument(symbol)  # an unknown symbol fails before any request
    lo, hi = _aware(start, "start"), _aware(end, "end")
    owned = session is None
    feed = _Feed(base_url.rstrip("/"), _cache_root(cache_dir), session or requests.Session(),
                 tries, backoff_s, timeout_s)
    frames, failures = [], []
    try:
        for hour in _hours(lo, hi):
            try:
                frames.append(feed.ticks(symbol, hour))
            except Bi5Error as exc:
                failures.append(HourFailure(symbol, hour, feed.url(symbol, hour), str(exc)))
    finally:
        if owned:
            feed.session.close()
    return _window(frames, lo, hi), failures


def _aware(value: datetime, name: str) -> pd.Timestamp:
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value!r}")
    return pd.Timestamp(value).tz_convert("UTC")


def _cache_root(cache_dir: str | Path | None) -> Path | None:
    return Path(cache_dir).expanduser() if cache_dir else None


def _hours(start: pd.Timestamp, end: pd.Timestamp) -> list[datetime]:
    """Every hour that overlaps [start, end)."""
    if end <= start:
        return []
    return [t.to_pydatetime() for t in pd.date_range(start.floor("h"), end, freq="h",
                                                     inclusive="left")]


def _window(frames: list[pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return empty_ticks()
    ticks = pd.concat(frames, ignore_index=True)
    inside = (ticks["time"] >= start) & (ticks["time"] < end)
    return ticks[inside].reset_index(drop=True)


def settled(hour: datetime, now: datetime | None = None) -> bool:
    """Whether the feed's file for `hour` is final (old enough to cache)."""
    return hour + _HOUR + SETTLED_AFTER <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class _Feed:
    base_url: str
    cache_dir: Path | None
    session: requests.Session
    tries: int
    backoff_s: float
    timeout_s: float

    def url(self, symbol: str, hour: datetime) -> str:
        return f"{self.base_url}/{hour_path(symbol, hour)}"

    def ticks(self, symbol: str, hour: datetime) -> pd.DataFrame:
        cached = self._from_cache(symbol, hour)
        if cached is not None:
            return cached
        data = self._download(self.url(symbol, hour))
        if len(data) > MAX_FILE_BYTES:
            raise Bi5Error(f"{symbol} {hour:%Y-%m-%dT%H}h: the file is over "
                           f"{MAX_FILE_BYTES:,} bytes: refused")
        ticks = decode_bi5(data, symbol=symbol, hour=hour)  # a Bi5Error skips the cache
        if self.cache_dir is not None and settled(hour):
            _write_atomic(self.cache_dir / hour_path(symbol, hour), data)
        return ticks

    def _from_cache(self, symbol: str, hour: datetime) -> pd.DataFrame | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / hour_path(symbol, hour)
        if not path.is_file():
            return None
        try:
            return decode_bi5(path.read_bytes(), symbol=symbol, hour=hour)
        except Bi5Error:  # damaged on disk since: fetch it again
            path.unlink(missing_ok=True)
            return None

    def _download(self, url: str) -> bytes:
        try:
            return with_retries(self._get, url, tries=self.tries, backoff_s=self.backoff_s)
        except GaveUp as exc:
            raise DukascopyUnavailable(f"{url}: {exc}") from exc.cause

    def _get(self, url: str) -> bytes:
        """The body, read up to one byte past MAX_FILE_BYTES (the caller refuses that)."""
        with self.session.get(url, timeout=self.timeout_s, stream=True) as response:
            status = response.status_code
            if status == 404:  # the feed has no file for a closed-market hour
                return b""
            raise_transient(response)
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_content(1 << 16):
                body += chunk
                if len(body) > MAX_FILE_BYTES:
                    break
            return bytes(body)


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers see the whole file or none (parallel runs may fetch the same hour)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as tmp:
        tmp.write(data)
    Path(tmp.name).replace(path)
