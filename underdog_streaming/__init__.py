"""The streaming sidecar: MT5 ticks over ZeroMQ into PostgreSQL and Redis (`underdog-streamer`).

Public API:
  Streamer(config, on_bar_close=None)   `.start()`, `.stop() -> counts`, `.stats`, `.metrics`
  StreamConfig                          everything one streamer needs (`config.py`)
  on_bar_close(symbol, bar)             the closed-bar hook (`hooks.py`; bar: `ClosedBar`)
  FakeBridge                            a fake MT5 bridge, either protocol (`fake_bridge.py`)
  run_demo(seconds) -> dict             what `underdog demo` streams (`demo.py`)

Modules: protocols (wire formats), checks (per-tick validation), subscriber (sockets),
roller (live M1 bars via bars_from_ticks), batcher, sink (PostgreSQL), spool (disk, while
PostgreSQL is down), writer (the thread that ties those), publisher (latest quote to Redis),
poller (subscriptions, bid/ask + depth polling), health (heartbeat), metrics (Prometheus).
"""
