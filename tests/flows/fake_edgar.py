"""A fake SEC EDGAR on loopback for offline tests of :mod:`flows.io.edgar` and the commands above it.

The fixture :func:`fake_edgar` serves the hand-made answers of ``io/edgar_responses/`` (EDGAR's
formats; see its README: not recorded) on ``127.0.0.1`` under EDGAR's paths, and points
``MARKET_REACTION_SEC_DATA_URL`` and ``MARKET_REACTION_SEC_WWW_URL`` at it, with a User-Agent
set. Usage::

    def test_something(fake_edgar):
        fake_edgar.fail("/submissions/CIK0001018724.json", 429, times=1)   # one 429, then the file
        fake_edgar.put("/submissions/CIK0001018724.json", b"{garbled")     # another answer
        ...
        assert fake_edgar.paths().count("/files/company_tickers.json") == 1
        assert fake_edgar.requests[0].user_agent == "Test Suite tests@example.com"

Any path without a file is a 404. The server thread stops at the end of the test.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RESPONSES = Path(__file__).parent / "io" / "edgar_responses"
USER_AGENT = "Test Suite tests@example.com"


@dataclass
class Request:
    path: str
    user_agent: str | None


@dataclass
class FakeEdgar:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    answers: dict[str, bytes] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)

    def put(self, path: str, body: bytes) -> None:
        """Answer ``path`` with ``body`` instead of its file."""
        self.answers[path] = body

    def fail(self, path: str, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests of ``path`` get ``status`` (with ``headers``)."""
        self.failures.setdefault(path, []).extend([(status, headers or {})] * times)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self.failures.get(path):
            status, headers = self.failures[path].pop(0)
            return status, headers, b"<html><body>Request Rate Threshold Exceeded</body></html>"
        if path in self.answers:
            return 200, {}, self.answers[path]
        file = (RESPONSES / path.lstrip("/")).resolve()
        if RESPONSES.resolve() in file.parents and file.is_file():
            return 200, {}, file.read_bytes()
        return 404, {}, b"<html><body>Not Found</body></html>"


def _handler(fake: FakeEdgar) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            fake.requests.append(Request(self.path, self.headers.get("User-Agent")))
            status, headers, body = fake.answer(self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def fake_edgar(monkeypatch) -> FakeEdgar:
    fake = FakeEdgar()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("MARKET_REACTION_SEC_DATA_URL", fake.url)
    monkeypatch.setenv("MARKET_REACTION_SEC_WWW_URL", fake.url)
    monkeypatch.setenv("MARKET_REACTION_SEC_USER_AGENT", USER_AGENT)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
