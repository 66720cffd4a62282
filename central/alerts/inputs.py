"""The rules' inputs from central's Storage: presence, live samples, primary uplink, gaps."""

from __future__ import annotations

from typing import Any

from central.alerts.model import AlertConfig, LiveSample, NodeInputs
from central.storage.base import Storage


def primary_uplink(birth: dict[str, Any] | None) -> str | None:
    """The name of the birth's uplink with the lowest priority number (None if unknown)."""
    ups = (birth or {}).get("uplinks") or []
    return str(min(ups, key=lambda u: u.get("priority", 0))["name"]) if ups else None


class InputReader:
    """Builds NodeInputs from central's Storage (births and gaps cached, re-read sparingly)."""

    def __init__(self, storage: Storage, cfg: AlertConfig, gap_grace_ms: int,
                 gap_refresh_ms: int = 30_000, birth_refresh_ms: int = 60_000) -> None:
        self.storage, self.cfg, self.gap_grace_ms = storage, cfg, gap_grace_ms
        self.gap_refresh_ms, self.birth_refresh_ms = gap_refresh_ms, birth_refresh_ms
        self._births: dict[str, tuple[int | None, str | None, int]] = {}
        self._gaps: dict[str, tuple[tuple[int, int], ...]] = {}
        self._gaps_ms: int | None = None

    def _primary(self, node: str, session: int | None, now_ms: int) -> str | None:
        cached = self._births.get(node)
        if cached is not None and cached[0] == session and (
                cached[1] is not None or now_ms - cached[2] < self.birth_refresh_ms):
            return cached[1]
        detail = self.storage.node_detail(node, now_ms, self.gap_grace_ms)
        primary = primary_uplink(detail["birth"] if detail else None)
        self._births[node] = (session, primary, now_ms)
        return primary

    def _samples(self, node: str, now_ms: int) -> tuple[LiveSample, ...]:
        since = now_ms - int(self.cfg.freshness_s * 1000)
        out: list[LiveSample] = []
        for _ in range(10):  # bounded paging through the freshness window
            rows = self.storage.samples(node, since, None, 1000)
            out += [live_sample(r) for r in rows]
            if len(rows) < 1000:
                break
            since = int(rows[-1]["ts_ms"]) + 1
        return tuple(out)

    def read(self, now_ms: int) -> list[NodeInputs]:
        """The inputs of every known node at now_ms."""
        if self._gaps_ms is None or now_ms - self._gaps_ms >= self.gap_refresh_ms:
            per: dict[str, list[tuple[int, int]]] = {}
            for g in self.storage.gaps(now_ms, self.gap_grace_ms):
                per.setdefault(g.node, []).append((g.from_seq, g.to_seq))
            self._gaps = {k: tuple(v) for k, v in per.items()}
            self._gaps_ms = now_ms
        fresh_from = now_ms - int(self.cfg.freshness_s * 1000)
        out: list[NodeInputs] = []
        for r in self.storage.list_nodes():
            node = r["node"]
            recent = r["last_sample_ms"] is not None and r["last_sample_ms"] >= fresh_from
            out.append(NodeInputs(
                node, r["site"], bool(r["online"]), r["offline_since_ms"], r["last_seen_ms"],
                bool(r["unregistered"]),
                self._primary(node, r["session"], now_ms) if recent else None,
                self._samples(node, now_ms) if recent else (), self._gaps.get(node, ())))
        return out


def live_sample(row: dict[str, Any]) -> LiveSample:
    """A LiveSample from a Storage.samples() row (its ``data`` is the sample as sent)."""
    data = row.get("data") or {}
    system = data.get("system") or {}
    up = next((u for u in data.get("uplinks") or [] if u.get("active")), None) or {}
    return LiveSample(int(row["ts_ms"]), int(row["received_ms"]), bool(row["historical"]),
                      up.get("name"), up.get("rtt_ms"), up.get("loss_pct"), system.get("temp_c"),
                      system.get("disk_pct"), system.get("undervoltage"))
