"""Test support: a local HTTP server that answers JSON APIs the way the real ones do.

Routes are request paths; each has a queue of answers (the last one repeats); anything else
is a 404. Every request is recorded with its query, headers and form body, so a test can
check what the client sent (keys, windows, paging).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.helpers import QuietHandler, serving


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: object = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


class Api:
    def __init__(self, port: int) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.requests: list[Request] = []
        self._routes: dict[tuple[str, str], list[Answer]] = {}
        self._lock = threading.Lock()

    def route(self, path: str, *answers: Answer, method: str = "GET") -> None:
        with self._lock:
            self._routes[(method, path)] = list(answers)

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            queue = self._routes.get((request.method, request.path))
            if not queue:
                return Answer(404, {"error": 404, "message": "Not Found"})
            return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def serve_api() -> Iterator[Api]:
    api: Api

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            request = Request(method, url.path, _flat(parse_qs(url.query)),
                              {k.lower(): v for k, v in self.headers.items()},
                              _flat(parse_qs(raw)))
            answer = api.answer(request)
            body = answer.body if isinstance(answer.body, bytes) else json.dumps(
                answer.body).encode()
            self.reply(answer.status, body, {"Content-Type": "application/json; charset=UTF-8",
                                             **answer.headers})

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            self._handle("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._handle("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api = Api(server.server_address[1])
    with serving(server):
        yield api


def _flat(values: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in values.items()}
