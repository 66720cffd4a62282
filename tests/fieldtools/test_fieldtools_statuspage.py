"""The status page server on loopback: what it answers, its headers, HTML escaping of whatever
the snapshot holds, the bound on concurrent clients, and the addresses it refuses."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from snapshots import snapshot

from agent.fieldtools.snapfile import write_file
from agent.fieldtools.statuspage import (
    MAX_CLIENTS,
    ListenError,
    StatusServer,
    parse_listen,
    resolve_listen,
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[StatusServer, Path]]:
    """A status page on 127.0.0.1 (an ephemeral port) serving tmp_path/status.json."""
    path = tmp_path / "status.json"
    srv = StatusServer(("127.0.0.1", 0), None, str(path), refresh_s=7)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    try:
        yield srv, path
    finally:
        srv.shutdown()
        srv.server_close()
        th.join(5)


def _get(srv: StatusServer, path: str, method: str = "GET") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_port, timeout=5)
    conn.request(method, path)
    return conn.getresponse()


def _put(path: Path, **changes: object) -> None:
    snap = snapshot(**changes)
    snap.pop("age_s")
    write_file(path, json.dumps(snap).encode())


def test_page_json_and_errors(served: tuple[StatusServer, Path]) -> None:
    srv, path = served
    r = _get(srv, "/")
    body = r.read().decode()
    assert r.status == 200 and "Agen tidak berjalan" in body  # no snapshot yet: says so
    r = _get(srv, "/status.json")
    assert r.status == 503 and json.loads(r.read()) == {"schema": None}
    _put(path)
    r = _get(srv, "/")
    body = r.read().decode()
    assert r.status == 200 and '<html lang="id">' in body and "Jalur internet" in body
    assert '<meta http-equiv="refresh" content="7">' in body and "<script" not in body
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Python" not in r.headers["Server"]
    r = _get(srv, "/?lang=en")
    assert '<html lang="en">' in r.read().decode()
    r = _get(srv, "/?lang=xx")
    assert '<html lang="id">' in r.read().decode()
    r = _get(srv, "/status.json")
    doc = json.loads(r.read())
    assert r.status == 200 and doc["node"]["id"] == "tks-01" and doc["stale"] is False
    r = _get(srv, "/", "HEAD")
    assert r.status == 200 and r.read() == b"" and int(r.headers["Content-Length"]) > 1000
    assert _get(srv, "/../etc/passwd").status == 404
    assert _get(srv, "/", "POST").status == 501


def test_every_value_from_the_snapshot_is_escaped(served: tuple[StatusServer, Path]) -> None:
    srv, path = served
    evil = '<script>alert(1)</script>"'
    _put(path, node={"id": evil, "site": evil, "sample_interval_s": 10},
         command={"cmd_id": evil, "kind": evil, "version": 1, "stage": "rejected",
                  "code": evil, "stages": ["rejected"], "ts_ms": 0},
         leds={"ok": "on", "warn": "off", "fail": "off", "text": evil, "hardware": True})
    body = _get(srv, "/").read().decode()
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in body


def test_concurrent_clients_are_bounded(served: tuple[StatusServer, Path]) -> None:
    srv, path = served
    _put(path)
    idle = []
    for _ in range(MAX_CLIENTS):  # slow clients that never send their request
        s = socket.create_connection(("127.0.0.1", srv.server_port), timeout=5)
        idle.append(s)
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.server_port), timeout=5)
        extra.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert extra.recv(100) == b"", "a client beyond the bound is closed at once"
        extra.close()
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the slots come back once the idle ones are gone
        try:
            if _get(srv, "/").status == 200:
                break
        except (ConnectionError, http.client.HTTPException):
            time.sleep(0.1)
    else:
        pytest.fail("slots never came back")


def test_refused_addresses() -> None:
    with pytest.raises(ListenError, match="wildcard") as exc:
        parse_listen("0.0.0.0:80")
    assert exc.value.status == 2
    with pytest.raises(ListenError, match="ADDRESS:PORT"):
        parse_listen("br0")
    assert parse_listen("192.168.50.1:8080") == ("192.168.50.1", 8080)
    with pytest.raises(ListenError, match="on uplink lo") as exc:
        resolve_listen("127.0.0.1:8080", "br0", 80, ["lo"], wait_s=0)
    assert exc.value.status == 2
    assert resolve_listen("127.0.0.1:8080", "br0", 80, ["eth0"], wait_s=0) == \
        ("127.0.0.1", 8080, "lo")
    slept: list[float] = []
    with pytest.raises(ListenError, match="no interface holds") as exc:
        resolve_listen(None, "kt-absent0", 80, [], wait_s=2, sleep=slept.append)
    assert exc.value.status == 1 and slept == [1.0, 1.0]
