"""An append-only, fsync'd on-disk queue of write batches for when PostgreSQL is unreachable.

Layout: numbered segment files `0000000001.spool`, each a run of records
  b"UDSP" | payload length (uint32, big-endian) | CRC-32 of the payload | payload (JSON batch)
and beside each a `.ack` file holding the offset up to which its records have been written to
the database (replaced atomically). `append` returns only after the record is on disk; `read`
gives the oldest unacknowledged records, merged, in order; `ack` moves the mark and deletes
segments that are done. Nothing is dropped: a record that fails its checksum in the middle
of a segment moves the segment to `corrupt/` for a person to look at; only a torn record at
the very end of the newest segment (a crash during `append`, so never acknowledged to
anyone) is cut off.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from underdog_streaming.batcher import WriteBatch

log = logging.getLogger(__name__)

MAGIC = b"UDSP"
HEADER = struct.Struct(">4sII")
SEGMENT_BYTES = 64 << 20
Position = tuple[int, int]  # (segment number, offset just past the last consumed record)


class CorruptRecord(ValueError):
    """A record whose header or checksum is wrong."""


class Spool:
    def __init__(self, directory: str | Path, *, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.dir = Path(directory).expanduser()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self._acked: dict[int, int] = {}
        self._active: int | None = None  # segment being appended to
        self.records = 0  # unacknowledged records
        for number in self._numbers():
            self._recover(number)

    # ------------------------------------------------------------ public

    @property
    def pending(self) -> bool:
        return self.records > 0

    def append(self, batch: WriteBatch) -> None:
        """Write one batch durably (fsync'd) at the end of the spool."""
        payload = batch.to_json()
        number = self._segment_for_append()
        with self._path(number).open("ab") as f:
            f.write(HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload)
            f.flush()
            os.fsync(f.fileno())
        self.records += 1

    def read(self, max_rows: int) -> tuple[WriteBatch, Position, int] | None:
        """The oldest unacknowledged records merged (up to about `max_rows` rows), the position
        to `ack` once they are written, and how many records that is; None if empty."""
        merged, position, count = WriteBatch(), None, 0
        for number in self._numbers():
            for end, payload in self._scan(number, self._acked.get(number, 0)):
                merged.extend(WriteBatch.from_json(payload))
                position, count = (number, end), count + 1
                if len(merged) >= max_rows:
                    return merged, position, count
        return (merged, position, count) if position is not None else None

    def ack(self, position: Position, count: int) -> None:
        """Everything up to `position` is in the database."""
        number, offset = position
        for older in [n for n in self._numbers() if n < number]:
            self._remove(older)
        if offset >= self._path(number).stat().st_size:
            self._remove(number)  # all of it is in: the next append starts a new segment
        else:
            self._write_ack(number, offset)
        self.records = max(0, self.records - count)

    # ------------------------------------------------------------ segments

    def _numbers(self) -> list[int]:
        return sorted(int(p.stem) for p in self.dir.glob("*.spool") if p.stem.isdigit())

    def _path(self, number: int) -> Path:
        return self.dir / f"{number:010d}.spool"

    def _ack_path(self, number: int) -> Path:
        return self.dir / f"{number:010d}.ack"

    def _segment_for_append(self) -> int:
        if self._active is None or self._path(self._active).stat().st_size >= self.segment_bytes:
            numbers = self._numbers()
            self._active = (numbers[-1] + 1) if numbers else 1
            self._path(self._active).touch()
            self._fsync_dir()
        return self._active

    def _remove(self, number: int) -> None:
        self._path(number).unlink(missing_ok=True)
        self._ack_path(number).unlink(missing_ok=True)
        self._acked.pop(number, None)
        if number == self._active:
            self._active = None

    def _write_ack(self, number: int, offset: int) -> None:
        tmp = self._ack_path(number).with_suffix(".ack.tmp")
        with tmp.open("w") as f:
            f.write(str(offset))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._ack_path(number))
        self._fsync_dir()
        self._acked[number] = offset

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ records

    def _scan(self, number: int, start: int) -> Iterator[tuple[int, bytes]]:
        """(offset past the record, payload) of each record from `start`."""
        with self._path(number).open("rb") as f:
            f.seek(start)
            offset = start
            while header := f.read(HEADER.size):
                if len(header) < HEADER.size:
                    raise CorruptRecord(f"segment {number}: torn header at {offset}")
                magic, length, crc = HEADER.unpack(header)
                payload = f.read(length) if magic == MAGIC else b""
                if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
                    raise CorruptRecord(f"segment {number}: bad record at {offset}")
                offset += HEADER.size + length
                yield offset, payload

    def _recover(self, number: int) -> None:
        """Count a segment's pending records; cut a torn tail, quarantine other damage."""
        ack = self._ack_path(number)
        start = int(ack.read_text() or 0) if ack.exists() else 0
        self._acked[number] = start
        good, count = start, 0
        try:
            for good, _ in self._scan(number, start):  # noqa: B007 (good is used after)
                count += 1
        except CorruptRecord as exc:
            if number != self._numbers()[-1]:
                self._quarantine(number, exc)
                return
            log.warning("spool: %s; cutting the torn tail (an interrupted append)", exc)
            os.truncate(self._path(number), good)
        self.records += count
        self._active = number

    def _quarantine(self, number: int, exc: CorruptRecord) -> None:
        corrupt = self.dir / "corrupt"
        corrupt.mkdir(exist_ok=True)
        for path in (self._path(number), self._ack_path(number)):
            if path.exists():
                path.replace(corrupt / path.name)
        self._acked.pop(number, None)
        log.error("spool: %s; segment moved to %s for inspection", exc, corrupt)
