"""Bars stored with integer prices and a scale; the view `underdog.ohlcv_values` reads them back.

Before: open/high/low/close as float8. The columnstore compresses float8 with XOR (Gorilla),
about 5.7 bytes a price, so bars compressed only to 75 %. After: `open_units` ..
`close_units` at `price_scale` decimals (delta-of-delta: about a byte each), as 0010 did for
ticks. `spread` stays float8: it is a mean of tick spreads, on no decimal grid (bench/
storage.py counts how many of its values a scale <= 15 would carry: almost none).
`volume` and `source` are unchanged. The table keeps its name, so the writers' COPY and
merge (the stored columns), the bar packs' xmin/ctid fingerprint, retention and the chunk
and compression reports still address `underdog.ohlcv`; readers of prices read
`underdog.ohlcv_values` or decode the same expression inline (readers.bars).

Chunks of 7 days instead of 1 (TimescaleDB): a week of a symbol's bars is one segment of
~7000 rows instead of 7 segments of ~1000 (better compression), and a read plans over
fewer chunks.

Existing rows are carried over: per symbol and UTC day the smallest scale that gives every
price back exactly. A price no scale up to 15 gives back stops the migration (nothing is
rounded). The table is rebuilt under the same name. On TimescaleDB the continuous
aggregates ohlcv_1h/ohlcv_1d depend on the table: they are made again over the units (same
columns, same values, real-time as 0011 made them, same policies) and refreshed over the
whole history; on plain PostgreSQL the summary tables keep their rows and their refresh
functions read the units.

Revision ID: 0012
Revises: 0011
"""

import time

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from underdog.store.offline.decimals import MAX_SCALE, SQL_POW10, sql_value

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

P = SQL_POW10
PRICES = ("open", "high", "low", "close")
CHUNK = "7 days"

NEW_TABLE = """
CREATE TABLE underdog.ohlcv_units (
    symbol       text             NOT NULL,
    time         timestamptz      NOT NULL,
    price_scale  smallint         NOT NULL,
    open_units   bigint           NOT NULL,
    high_units   bigint           NOT NULL,
    low_units    bigint           NOT NULL,
    close_units  bigint           NOT NULL,
    volume       bigint           NOT NULL,
    spread       double precision NOT NULL,
    source       text             NOT NULL,
    PRIMARY KEY (symbol, time)
);
COMMENT ON TABLE underdog.ohlcv_units IS
    'M1 bid bars; time = minute start; known at time + 1 minute; volume = tick count;'
    ' prices as units of 10^-price_scale (values: underdog.ohlcv_values)';
"""

TIMESCALE = [
    f"SELECT create_hypertable('underdog.ohlcv_units', by_range('time', INTERVAL '{CHUNK}'))",
    "ALTER TABLE underdog.ohlcv_units SET (timescaledb.enable_columnstore = true,"
    " timescaledb.segmentby = 'symbol', timescaledb.orderby = 'time DESC')",
]
POLICIES = [
    "CALL add_columnstore_policy('underdog.ohlcv', after => INTERVAL '30 days',"
    " if_not_exists => TRUE)",
    "SELECT add_retention_policy('underdog.ohlcv', drop_after => (SELECT keep FROM"
    " underdog.retention_policies WHERE table_name = 'ohlcv'), if_not_exists => TRUE)",
]

RENAME = ["ALTER TABLE underdog.ohlcv_units RENAME TO ohlcv",  # the view follows it
          "ALTER INDEX underdog.ohlcv_units_pkey RENAME TO ohlcv_pkey"]


# The jobs of the old table and aggregates go first, so that no run starts while they are
# dropped (the scheduler runs a new policy at once, e.g. right after 0003 on a new database).
UNSCHEDULE = [
    *(f"SELECT remove_continuous_aggregate_policy('underdog.{name}', if_exists => TRUE)"
      for name in ("ohlcv_1h", "ohlcv_1d")),
    "CALL remove_columnstore_policy('underdog.ohlcv', if_exists => TRUE)",
    "SELECT remove_retention_policy('underdog.ohlcv', if_exists => TRUE)",
]

CARRY_OVER = f"""
INSERT INTO underdog.ohlcv_units
SELECT symbol, time, ps,
       {", ".join(f"round({c} * ({P})[ps + 1])::bigint" for c in PRICES)},
       volume, spread, source
FROM (
    SELECT o.*,
           max(greatest({", ".join(f"underdog.decimal_scale({c})" for c in PRICES)}))
               OVER (PARTITION BY symbol, date_trunc('day', time, 'UTC')) AS ps
    FROM underdog.ohlcv o
) scaled
"""

# Bars with a price no scale up to MAX_SCALE gives back: must be none.
UNSCALABLE = ("SELECT count(*) FROM underdog.ohlcv WHERE "
              + " OR ".join(f"underdog.decimal_scale({c}) IS NULL" for c in PRICES))

# Bars the carried-over units do not give back exactly: must be none.
UNEQUAL = """
SELECT count(*) FROM underdog.ohlcv o JOIN underdog.ohlcv_values n USING (symbol, time)
WHERE (o.open, o.high, o.low, o.close, o.volume, o.spread, o.source)
      IS DISTINCT FROM (n.open, n.high, n.low, n.close, n.volume, n.spread, n.source)
"""


def price(column: str) -> str:
    """The SQL of one price from its units: underdog.store.offline.decimals.sql_value."""
    return sql_value(f"{column}_units", "price_scale")


def view(source: str) -> str:
    return f"""
CREATE OR REPLACE VIEW underdog.ohlcv_values AS
SELECT symbol, time, {", ".join(f"{price(c)} AS {c}" for c in PRICES)},
       volume, spread, source
FROM {source};
COMMENT ON VIEW underdog.ohlcv_values IS
    'bars as values: the columns writers take (underdog.store.tables.OHLCV), exactly';
"""


# The summaries of 0003 over the units: the same columns and, price for price, the same
# values (max/min/first/last of the very doubles the float columns held).
SUMMARY = f"""
SELECT symbol, BUCKET AS time,
       FIRST_OPEN AS open, max({price("high")}) AS high, min({price("low")}) AS low,
       LAST_CLOSE AS close,
       sum(volume)::bigint AS volume,
       sum(spread * volume) / nullif(sum(volume), 0) AS spread,
       count(*)::bigint AS bars
FROM underdog.ohlcv WHERE_CLAUSE
GROUP BY symbol, BUCKET
"""
# name: (bucket width, policy start offset, end offset, schedule), as 0003 made them
SUMMARIES = {"ohlcv_1h": ("1 hour", "3 days", "1 hour", "15 minutes"),
             "ohlcv_1d": ("1 day", "7 days", "1 day", "1 hour")}
ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"  # time_bucket's default origin (0003)


def summary(width: str, *, timescale: bool, where: str = "") -> str:
    if timescale:
        parts = {"BUCKET": f"time_bucket(INTERVAL '{width}', time)",
                 "FIRST_OPEN": f"first({price('open')}, time)",
                 "LAST_CLOSE": f"last({price('close')}, time)"}
    else:
        parts = {"BUCKET": f"date_bin(INTERVAL '{width}', time, {ORIGIN})",
                 "FIRST_OPEN": f"(array_agg({price('open')} ORDER BY time))[1]",
                 "LAST_CLOSE": f"(array_agg({price('close')} ORDER BY time DESC))[1]"}
    out = SUMMARY.replace("WHERE_CLAUSE", where)  # not str.format: SQL_POW10 has braces
    for placeholder, sql in parts.items():
        out = out.replace(placeholder, sql)
    return out


def continuous_aggregate(name: str) -> str:
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS underdog.{name} WITH"
            " (timescaledb.continuous, timescaledb.materialized_only = false) AS"
            f" {summary(SUMMARIES[name][0], timescale=True)} WITH NO DATA")


def refresh_policy(name: str) -> str:
    _width, start, end, every = SUMMARIES[name]
    return (f"SELECT add_continuous_aggregate_policy('underdog.{name}',"
            f" start_offset => INTERVAL '{start}', end_offset => INTERVAL '{end}',"
            f" schedule_interval => INTERVAL '{every}', if_not_exists => TRUE)")


def refresh_function(name: str) -> str:
    select = summary(SUMMARIES[name][0], timescale=False,
                     where="WHERE time >= window_start AND time < window_end")
    return f"""CREATE OR REPLACE FUNCTION underdog.refresh_{name}(
            window_start timestamptz, window_end timestamptz) RETURNS bigint
        LANGUAGE plpgsql AS $$
        DECLARE n bigint;
        BEGIN
            DELETE FROM underdog.{name} WHERE time >= window_start AND time < window_end;
            INSERT INTO underdog.{name} {select};
            GET DIAGNOSTICS n = ROW_COUNT;
            RETURN n;
        END $$"""


def _scalar(query: str) -> object:
    return op.get_bind().execute(text(query)).scalar()


def _drop(statement: str, tries: int = 40) -> None:
    """Run a DROP, again after a pause while a job run already under way (a refresh commits
    in several steps) makes it fail with "tuple concurrently deleted": a savepoint each try."""
    bind = op.get_bind()
    for attempt in range(tries):
        try:
            with bind.begin_nested():
                bind.execute(text(statement))
            return
        except DBAPIError as exc:
            if "concurrently" not in str(exc.orig) or attempt == tries - 1:
                raise
            time.sleep(0.25)


def _has_timescale() -> bool:
    return bool(_scalar("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"))


def _rebuild(timescale: bool) -> None:
    if unscalable := _scalar(UNSCALABLE):
        raise RuntimeError(f"0012: {unscalable} bars have a price with more than {MAX_SCALE}"
                           " decimals; not migrated")
    for statement in UNSCHEDULE if timescale else []:
        op.execute(statement)
    for name in SUMMARIES if timescale else []:  # they depend on the table's columns
        _drop(f"DROP MATERIALIZED VIEW IF EXISTS underdog.{name}")
    op.execute(NEW_TABLE)
    for statement in TIMESCALE if timescale else []:
        op.execute(statement)
    op.execute(CARRY_OVER)
    op.execute(view("underdog.ohlcv_units"))
    if unequal := _scalar(UNEQUAL):
        raise RuntimeError(f"0012: {unequal} bars would not read back exactly; not migrated")
    _drop("DROP TABLE underdog.ohlcv")
    for statement in RENAME + (POLICIES if timescale else []):
        op.execute(statement)


def upgrade(reader_role: str = "underdog_reader", **context) -> None:
    timescale = _has_timescale()
    already = _scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                      " 'underdog' AND table_name = 'ohlcv' AND column_name = 'open_units'")
    if already:  # rebuilt by a run that stopped before its end: view and summaries may lack
        op.execute(view("underdog.ohlcv"))
    else:
        _rebuild(timescale)
    summaries = ", ".join(f"underdog.{name}" for name in SUMMARIES)
    for name in SUMMARIES:
        op.execute(continuous_aggregate(name) if timescale else refresh_function(name))
    op.execute(f"GRANT SELECT ON underdog.ohlcv, underdog.ohlcv_values, {summaries}"
               f" TO {reader_role}")
    if not timescale:
        return
    # The rebuilt aggregates hold nothing yet: materialize all of history (outside a
    # transaction, as TimescaleDB requires), then add the policies, whose first run would
    # otherwise start at once and make this refresh fail as concurrent.
    with op.get_context().autocommit_block():
        for name in SUMMARIES:
            op.execute(f"CALL refresh_continuous_aggregate('underdog.{name}', NULL, NULL)")
    for name in SUMMARIES:
        op.execute(refresh_policy(name))
