"""Status snapshots as the agent writes them (agent/fieldtools/collect.py), for view tests."""

from __future__ import annotations

import copy
import time
from typing import Any

NOW_MS = int(time.time() * 1000)

BASE: dict[str, Any] = {
    "schema": "kotanet.status/1", "ts_ms": NOW_MS, "pid": 4242,
    "node": {"id": "tks-01", "site": "taman-kota-sampit", "role": "park",
             "agent_version": "0.1.0", "config_hash": "0123456789abcdef", "boot_id": "b",
             "sample_interval_s": 10.0},
    "sample_ts_ms": NOW_MS - 1000,
    "uplinks": [
        {"name": "fiber", "iface": "eth0", "kind": "ethernet", "priority": 0, "up": True,
         "active": True, "state": "up", "rtt_ms": 12.5, "loss_pct": 0.0, "jitter_ms": 0.4,
         "rx_bps": 1000.0, "tx_bps": 500.0},
        {"name": "lte", "iface": "wwan0", "kind": "lte", "priority": 10, "up": True,
         "active": False, "state": "degraded", "rtt_ms": 48.0, "loss_pct": 6.5,
         "jitter_ms": 3.0, "rx_bps": 0.0, "tx_bps": 0.0}],
    "active_uplink": "fiber", "failover": True,
    "users": {"associated": 37, "authenticated": 30, "leases": 41, "total": 39,
              "neighbours": 35, "daily_unique": 212},
    "system": {"cpu_pct": 7.5, "mem_pct": 31.0, "temp_c": 52.3, "disk_pct": 18.0,
               "uptime_s": 86400, "undervoltage": False, "throttled": False, "load1": 0.3,
               "undervoltage_since_boot": False, "throttled_since_boot": False},
    "probes": [{"name": "users", "status": "ok", "detail": "hostapd: 37 associated"}],
    "shaping": {"version": 7, "down_kbps": 20000, "up_kbps": 5000,
                "per_client_down_kbps": 2000, "per_client_up_kbps": 512},
    "throttle": {"source": "central", "version": 7, "down_kbps": 20000, "up_kbps": 5000,
                 "per_client_down_kbps": 2000, "per_client_up_kbps": 512, "clients": 41,
                 "lease_s": 900, "lease_left_s": 250.0},
    "broker": {"host": "mqtt.kotimkab.go.id", "port": 8883, "tls": True, "connected": True,
               "session": 12, "since_ms": NOW_MS - 3_600_000, "centrals_online": ["central-1"],
               "last_receipt_ms": NOW_MS - 30_000, "last_receipt_seq": 9001},
    "outbox": {"records": 6, "oldest_seq": 9002, "newest_seq": 9007,
               "oldest_ts_ms": NOW_MS - 60_000, "inflight_batches": 1, "sending": True,
               "paused_s": 0.0},
    "clock": {"synced": True, "wall_ms": NOW_MS},
    "command": {"cmd_id": "c-1", "kind": "set_throttle", "version": 7, "epoch": 3,
                "stage": "applied", "code": "ok", "detail": "", "ts_ms": NOW_MS - 650_000,
                "stages": ["accepted", "applied"]},
    "gate": {"applied_version": 7, "highest_epoch": 3, "throttle_version": 7},
    "leds": {"ok": "on", "warn": "on", "fail": "off", "hardware": True,
             "text": "degraded: standby uplink down"},
    "age_s": 2.0,
}


def snapshot(**changes: Any) -> dict[str, Any]:
    """A copy of BASE with top-level keys replaced."""
    snap = copy.deepcopy(BASE)
    snap.update(changes)
    return snap
