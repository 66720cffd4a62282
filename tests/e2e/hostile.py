"""A stolen node's credentials in an attacker's hands: every hostile payload class, published
on that node's own topics through a real broker (issue 12)."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.topics import Topics

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TOPICS = Topics()
HUGE_EPOCH = 2**63 - 1


def _example(kind: str) -> dict[str, Any]:
    return dict(json.loads((EXAMPLES / f"{kind}.json").read_text()))


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()  # NaN/Infinity literals on purpose


class Payloads:
    """Hostile (and absurd-but-valid) messages of one node: (kind, topic kind, bytes)."""

    def __init__(self, site: str, node: str, other_node: str, other_site: str) -> None:
        self.site, self.node, self.other, self.other_site = site, node, other_node, other_site
        self.seq = 10_000_000

    def _tele(self) -> dict[str, Any]:
        self.seq += 10
        t = _example("tele")
        t.update(site=self.site, node=self.node, ts_ms=int(time.time() * 1000), seq=self.seq)
        for i, s in enumerate(t["samples"]):
            s["seq"] = self.seq + 2 * i
        t["events"] = [dict(e, seq=self.seq + 1) for e in t["events"]]
        return t

    def _bad_number(self, literal: str) -> bytes:
        t = self._tele()
        text = _dump(t).decode().replace('"rtt_ms": 18.4', f'"rtt_ms": {literal}', 1)
        return text.replace('"cpu_pct": 23.5', f'"cpu_pct": {literal}', 1).encode()

    def invalid(self) -> list[tuple[str, str, bytes]]:
        """One of every class central must refuse: (class, topic kind, payload)."""
        t = self._tele()
        wrong_ids = copy.deepcopy(t)
        wrong_ids["node"] = self.other
        state = _example("state")
        state.update(site=self.site, node=self.node)
        return [
            ("deep_nesting", "tele", b'{"schema":"kotanet.tele/1","samples":' + b"[" * 50_000
             + b"]" * 50_000 + b"}"),
            ("deep_object", "birth", b'{"a":' * 20_000 + b"1" + b"}" * 20_000),
            ("huge_int", "tele", _dump(t).replace(f'"seq": {t["seq"]}'.encode(),
                                                  b'"seq": ' + b"9" * 5000, 1)),
            ("nan", "tele", self._bad_number("NaN")),
            ("infinity", "tele", self._bad_number("-Infinity")),
            ("1e999", "tele", self._bad_number("1e999")),
            ("oversize", "tele", _dump({**self._tele(), "pad": "x" * 270_000})),
            ("wrong_schema", "tele", _dump({**self._tele(), "schema": "kotanet.birth/1"})),
            ("wrong_version", "ack", _dump({**_example("ack"), "site": self.site,
                                            "node": self.node, "schema": "kotanet.ack/9"})),
            ("wrong_ids", "tele", _dump(wrong_ids)),
            ("wrong_schema_state", "state", _dump({**state, "online": "yes"})),
            ("garbage", "tele", os.urandom(200)),
            ("garbage_birth", "birth", b"\xff\xfe" + os.urandom(64)),
            ("not_object", "ack", b"[1,2,3]"),
            ("negative_epoch", "birth", _dump({**self.birth(0), "cmd_epoch": -1})),
        ]

    def birth(self, epoch: int = HUGE_EPOCH) -> dict[str, Any]:
        """An absurd but well-formed birth: the largest epoch and versions the codec allows."""
        b = _example("birth")
        b.update(site=self.site, node=self.node, ts_ms=int(time.time() * 1000),
                 cmd_epoch=epoch, applied_version=HUGE_EPOCH, throttle_version=HUGE_EPOCH)
        return b

    def foreign_site_tele(self) -> tuple[str, bytes]:
        """Valid tele on this node's id under another site (the broker ACL refuses it: PUBACK
        0x87, counted in ``Attacker.refused``; central would refuse it as ``site_mismatch``)."""
        t = self._tele()
        t["site"] = self.other_site
        return TOPICS.node(self.other_site, self.node, "tele"), _dump(t)

    def valid_tele(self) -> bytes:
        """A well-formed tele batch (the flood)."""
        return _dump(self._tele())


class Attacker:
    """One paho MQTT 5 client with a stolen node's password; counts what it published."""

    def __init__(self, host: str, port: int, node: str, password: str,
                 payloads: Payloads) -> None:
        self.p = payloads
        self.sent: Counter[str] = Counter()
        self.invalid_sent = 0  # messages central must count as rejected
        self.refused = 0  # publishes the broker refused (PUBACK 0x87 not authorized)
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{node}-stolen",
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(node, password)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        self.c.on_publish = self._on_publish
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()
        self.stop = threading.Event()
        self._infos: list[mqtt.MQTTMessageInfo] = []

    def _on_publish(self, _c: mqtt.Client, _u: Any, _mid: int, rc: Any, _p: Any) -> None:
        if rc.value == 135:  # not authorized: the broker ACL
            self.refused += 1

    def _wait(self) -> None:
        for info in self._infos:
            info.wait_for_publish(timeout=30)
        self._infos.clear()

    def _pub(self, label: str, topic: str, payload: bytes, retain: bool = False,
             invalid: bool = True) -> None:
        self._infos.append(self.c.publish(topic, payload, qos=1, retain=retain))
        self.sent[label] += 1
        self.invalid_sent += int(invalid)

    def mixed(self, seconds: float, rate: float, on_round: Callable[[], None] | None = None) -> None:
        """Every class in turn at ``rate`` messages/s for ``seconds`` (retained garbage too)."""
        own = {k: TOPICS.node(self.p.site, self.p.node, k) for k in ("birth", "tele", "state",
                                                                     "ack")}
        t0 = time.monotonic()
        n = 0
        while not self.stop.is_set() and time.monotonic() - t0 < seconds:
            for label, kind, payload in self.p.invalid():
                self._pub(label, own[kind], payload)
                n += 1
            self._pub("retained_garbage", own["state"], b"\x00garbage" + os.urandom(32),
                      retain=True)
            self._pub("absurd_birth", own["birth"], _dump(self.p.birth()), invalid=False)
            topic, payload = self.p.foreign_site_tele()
            self._pub("foreign_site", topic, payload, invalid=False)  # the broker refuses it
            n += 3
            self._wait()
            if on_round is not None:
                on_round()
            ahead = t0 + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def flood(self, count: int) -> None:
        """``count`` valid tele batches as fast as the broker takes them."""
        topic = TOPICS.node(self.p.site, self.p.node, "tele")
        infos = []
        for _ in range(count):
            infos.append(self.c.publish(topic, self.p.valid_tele(), qos=1))
            self.sent["flood"] += 1
        for info in infos:
            info.wait_for_publish(timeout=30)

    def close(self) -> None:
        """End with garbage retained on the node's state topic, then disconnect."""
        self._pub("retained_garbage", TOPICS.node(self.p.site, self.p.node, "state"),
                  b"{not json" + os.urandom(16), retain=True)
        self._wait()
        self.shutdown()

    def shutdown(self) -> None:
        """Disconnect and stop the network thread (idempotent)."""
        self.stop.set()
        if self.c.is_connected():
            self.c.disconnect()
        self.c.loop_stop()
