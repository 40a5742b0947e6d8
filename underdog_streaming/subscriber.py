"""ZeroMQ sockets to the bridge: the live feed (one thread) and the MQL5 control pair.

The live socket's receive queue is bounded: at most `receive_hwm` frames (RCVHWM) of at most
`max_frame_bytes` each (MAXMSGSIZE), so a peer cannot make it hold more than their product
(plus the kernel's socket buffer). libzmq's I/O thread keeps taking frames off TCP while
Python is busy, up to that mark, so a burst waits in memory; past it TCP pushes back on the
bridge (the MQL5-JSON-API EA sends with a high-water mark of 1 and does not block: it drops).
A frame over `max_frame_bytes` is never read: libzmq drops the connection at its header and,
after that protocol error, does not reconnect by itself; `LiveFeed` sees the disconnect (a
socket monitor) and reconnects once the frames queued before it are taken. The frames the
bridge had queued on the dropped connection are lost with it (ZMTP cannot skip a frame).
Each frame is stamped with the wall clock when Python takes it: the origin of every latency
and a DWX tick's time.

One consumer per bridge: ZeroMQ PUSH sockets deal messages round-robin, so two clients on the
same live (or data) port would each see half of the stream.
"""

from __future__ import annotations

import json
import time
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from underdog_streaming.protocols import DELIMITER, dwx_track_prices, mql5_request

Frame = tuple[bytes, int]  # (payload, receipt time in UTC nanoseconds)


class LiveFeed:
    """The socket ticks arrive on: PULL (MQL5-JSON-API live port) or SUB (DWX)."""

    def __init__(self, socket: zmq.Socket, endpoint: str) -> None:
        self.socket = socket
        self.endpoint = endpoint
        self.drops = 0  # connections libzmq dropped (an oversize frame, a protocol error)
        self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        socket.connect(endpoint)

    def recv_burst(self, timeout_ms: int, max_frames: int = 4096) -> list[Frame]:
        """Every frame waiting (up to `max_frames`), after waiting up to `timeout_ms`."""
        if not self.socket.poll(timeout_ms):
            self._reconnect_if_dropped()  # the queue is empty: nothing queued is lost
            return []
        frames: list[Frame] = []
        recv, now = self.socket.recv, time.time_ns
        try:
            while len(frames) < max_frames:
                frames.append((recv(zmq.NOBLOCK), now()))
        except zmq.Again:
            pass
        return frames

    def _reconnect_if_dropped(self) -> None:
        dropped = False
        try:
            while True:
                recv_monitor_message(self._monitor, zmq.NOBLOCK)
                dropped = True
        except zmq.Again:
            pass
        if dropped:
            self.socket.disconnect(self.endpoint)
            self.socket.connect(self.endpoint)  # SUB topics are sent again on connect
            self.drops += 1

    def close(self) -> None:
        self.socket.disable_monitor()
        self._monitor.close(linger=0)
        self.socket.close(linger=0)


def _live_socket(context: zmq.Context, kind: int, receive_hwm: int,
                 max_frame_bytes: int) -> zmq.Socket:
    socket = context.socket(kind)
    socket.setsockopt(zmq.RCVHWM, receive_hwm)
    socket.setsockopt(zmq.MAXMSGSIZE, max_frame_bytes)
    socket.setsockopt(zmq.LINGER, 0)
    return socket


def mql5_feed(context: zmq.Context, host: str, live_port: int, *, receive_hwm: int,
              max_frame_bytes: int) -> LiveFeed:
    socket = _live_socket(context, zmq.PULL, receive_hwm, max_frame_bytes)
    return LiveFeed(socket, f"tcp://{host}:{live_port}")


def dwx_feed(context: zmq.Context, host: str, pub_port: int, symbols: tuple[str, ...], *,
             receive_hwm: int, max_frame_bytes: int, rates: bool = False) -> LiveFeed:
    socket = _live_socket(context, zmq.SUB, receive_hwm, max_frame_bytes)
    # A topic is a prefix: "EURUSD" alone would also bring "EURUSDm" and "EURUSD_M1".
    for symbol in symbols:
        socket.setsockopt(zmq.SUBSCRIBE, f"{symbol}{DELIMITER}".encode())
        if rates:
            socket.setsockopt(zmq.SUBSCRIBE, f"{symbol}_".encode())
    return LiveFeed(socket, f"tcp://{host}:{pub_port}")


def dwx_track(context: zmq.Context, host: str, push_port: int, symbols: tuple[str, ...], *,
              timeout_s: float = 1.0) -> bool:
    """Ask a DWX server to publish these symbols; False if its command port took nothing.

    Fire and forget: the server's reply goes to its PUSH port, which nobody here reads.
    """
    socket = context.socket(zmq.PUSH)
    socket.setsockopt(zmq.LINGER, 500)
    socket.setsockopt(zmq.SNDHWM, 1)
    try:
        socket.connect(f"tcp://{host}:{push_port}")
        if not socket.poll(int(timeout_s * 1000), zmq.POLLOUT):  # connecting is asynchronous
            return False
        socket.send(dwx_track_prices(symbols), zmq.NOBLOCK)
        return True
    except zmq.Again:
        return False
    finally:
        socket.close()


class Mql5Control:
    """The system (REQ) and data (PULL) sockets: a request, its "OK", then its result.

    A REQ socket that got no answer is stuck waiting; it is replaced (the "lazy pirate"
    pattern), so a bridge restart costs one timed-out request, not the connection.
    """

    def __init__(self, context: zmq.Context, host: str, sys_port: int, data_port: int) -> None:
        self.context = context
        self.sys_url = f"tcp://{host}:{sys_port}"
        self.data = context.socket(zmq.PULL)
        self.data.setsockopt(zmq.LINGER, 0)
        self.data.connect(f"tcp://{host}:{data_port}")
        self.sys = self._sys_socket()

    def _sys_socket(self) -> zmq.Socket:
        socket = self.context.socket(zmq.REQ)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.REQ_RELAXED, 1)
        socket.setsockopt(zmq.REQ_CORRELATE, 1)
        socket.connect(self.sys_url)
        return socket

    def request(self, action: str, *, timeout_s: float = 1.0, **fields: Any) -> dict | None:
        """The result pushed on the data socket, or None if the bridge did not answer."""
        self._drain()  # a late answer to an earlier request is not this one's
        self.sys.send_json(mql5_request(action, **fields))
        if not self.sys.poll(int(timeout_s * 1000)):
            self.sys.close()
            self.sys = self._sys_socket()
            return None
        if self.sys.recv() != b"OK":
            return None
        if not self.data.poll(int(timeout_s * 1000)):
            return None
        try:
            reply = json.loads(self.data.recv())
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def configure(self, symbols: tuple[str, ...], timeframes: tuple[str, ...]) -> list[str]:
        """Subscribe every symbol to every timeframe; the subscriptions the bridge refused."""
        refused = []
        for symbol in symbols:
            for timeframe in timeframes:
                reply = self.request("CONFIG", symbol=symbol, chartTF=timeframe)
                if reply is None or reply.get("error"):
                    refused.append(f"{symbol} {timeframe}: {reply or 'no answer'}")
        return refused

    def _drain(self) -> None:
        try:
            while True:
                self.data.recv(zmq.NOBLOCK)
        except zmq.Again:
            pass

    def close(self) -> None:
        self.sys.close(linger=0)
        self.data.close(linger=0)
