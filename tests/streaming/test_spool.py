"""The on-disk spool: batches come back in order, survive a restart, are deleted once
acknowledged; a torn tail is cut, a damaged segment is kept aside, never dropped."""

from __future__ import annotations

from pathlib import Path

from underdog_streaming.batcher import DeadRow, QuoteRow, TickRow, WriteBatch
from underdog_streaming.spool import Spool


def batch(i: int, n: int = 3) -> WriteBatch:
    return WriteBatch(
        ticks=[TickRow("EURUSD", 1_000 * i + k, 0, 1.1 + k * 1e-5, 1.1001, 5) for k in range(n)],
        quotes=[QuoteRow("EURUSD", i, 1.1, 1.1001, {"bids": [[1.1, 1.0]]}, i)],
        dead=[DeadRow("mql5", "ticks", "not JSON", {"raw": f"junk {i} \\x00"})],
    )


def test_batches_round_trip_in_order_and_are_deleted_when_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(5):
        spool.append(batch(i))
    assert spool.pending and spool.records == 5
    merged, position, count = spool.read(max_rows=1_000)
    assert count == 5
    assert [t.time_us for t in merged.ticks] == [1_000 * i + k for i in range(5) for k in range(3)]
    assert merged.quotes[2].depth == {"bids": [[1.1, 1.0]]}
    assert merged.dead[4].payload == {"raw": "junk 4 \\x00"}
    spool.ack(position, count)
    assert not spool.pending and spool.read(1_000) is None
    spool.append(batch(9))  # caught up: the next append starts a new segment
    assert Spool(tmp_path).records == 1


def test_reads_stop_near_max_rows_and_resume_after_the_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=600)  # a new segment every record or two
    for i in range(6):
        spool.append(batch(i))
    assert len(list(tmp_path.glob("*.spool"))) > 1
    seen = []
    while (item := spool.read(max_rows=10)) is not None:
        merged, position, count = item
        assert len(merged) >= 10 or count == spool.records
        seen += [t.time_us // 1_000 for t in merged.ticks[::3]]
        spool.ack(position, count)
    assert seen == list(range(6))
    assert not list(tmp_path.glob("*.spool"))


def test_pending_records_survive_a_restart_and_a_partial_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for i in range(4):
        spool.append(batch(i))
    first = spool.read(max_rows=6)  # two records: 5 rows each (3 ticks, a quote, a letter)
    assert first is not None and first[2] == 2
    spool.ack(first[1], first[2])
    reopened = Spool(tmp_path)
    assert reopened.records == 2
    rest, _, count = reopened.read(max_rows=1_000)
    assert count == 2 and rest.ticks[0].time_us == 2_000


def test_a_torn_tail_is_cut_and_damage_elsewhere_is_kept_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1)  # one record per segment
    for i in range(3):
        spool.append(batch(i))
    segments = sorted(tmp_path.glob("*.spool"))
    with segments[-1].open("ab") as f:  # a crash in the middle of an append
        f.write(b"UDSP\x00\x00\x10\x00")
    data = bytearray(segments[0].read_bytes())
    data[20] ^= 0xFF  # a flipped bit in the first segment
    segments[0].write_bytes(bytes(data))
    reopened = Spool(tmp_path)
    assert reopened.records == 2  # the damaged segment moved out, the torn bytes cut
    assert (tmp_path / "corrupt" / segments[0].name).exists()
    merged, _, count = reopened.read(max_rows=1_000)
    assert count == 2 and merged.ticks[0].time_us == 1_000
