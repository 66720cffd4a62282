"""Merge probe results into one protocol Sample (events are returned separately)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from agent.probes.base import ProbeResult
from protocol.messages import (
    UPLINK_SAMPLE,
    Event,
    Sample,
    Shaping,
    SystemHealth,
    UplinkSample,
    Users,
)

log = logging.getLogger(__name__)

KNOWN_KEYS = frozenset({"uplinks", "users", "system", "events"})


def _parse(data: dict[str, Any], ts_ms: int) -> tuple[list[UplinkSample], dict[str, Any],
                                                     dict[str, Any], list[Event]]:
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    uplinks = [UPLINK_SAMPLE.validate_python(u) for u in data.get("uplinks", [])]
    users = Users.model_validate(data.get("users", {})).model_dump(exclude_none=True)
    system = SystemHealth.model_validate(data.get("system", {})).model_dump(exclude_none=True)
    events = [Event.model_validate({"ts_ms": ts_ms, **e, "seq": None})
              for e in data.get("events", [])]
    return uplinks, users, system, events


def build_sample(results: list[ProbeResult], ts_ms: int,
                 shaping: Shaping | None = None) -> tuple[Sample, list[Event]]:
    """One Sample from all probe results, plus the events the probes reported.

    Later probes fill fields earlier ones left empty; a probe whose data does not fit the
    protocol is reported as "failed" and its data is left out (the rest of the sample stays).
    """
    uplinks: dict[str, UplinkSample] = {}
    users: dict[str, Any] = {}
    system: dict[str, Any] = {}
    events: list[Event] = []
    for res in results:
        if res.status != "ok" or not res.data:
            continue
        try:
            ups, us, sy, evs = _parse(res.data, ts_ms)
        except (ValidationError, ValueError, TypeError) as exc:
            log.warning("probe %s returned unusable data: %s", res.name, exc)
            res.status = "failed"
            res.detail = f"bad data: {str(exc).splitlines()[0]}"
            continue
        for up in ups:
            prev = uplinks.get(up["name"])
            merged = {**({k: v for k, v in prev.items() if v is not None} if prev else {}),
                      **{k: v for k, v in up.items() if v is not None}}
            uplinks[up["name"]] = UPLINK_SAMPLE.validate_python(merged)
        users.update(us)
        system.update(sy)
        events.extend(evs)
    sample = Sample(ts_ms=ts_ms, uplinks=list(uplinks.values()), users=Users(**users),
                    system=SystemHealth(**system), shaping=shaping,
                    probes=[r.report() for r in results])
    return sample, events
