"""The live hub on real storage: each open fleet page gets the diffs from what it holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from noc_helpers import build_app, central_cfg, fill, open_db, run_async

from central.noc.live import HUB
from central.storage import Incoming
from protocol.messages import NodeState


class Page:
    """A fleet page's WebSocket as the hub sees it: what it was sent, decoded."""

    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    async def send_json(self, msg: dict[str, Any], dumps: Any) -> None:
        self.got.append(json.loads(dumps(msg)))

    def diffs(self) -> list[dict[str, Any]]:
        return [m for m in self.got if m["type"] == "diff"]


def test_a_page_that_joins_after_a_diff_went_out_still_gets_that_change(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [("tk-01", "taman-kota"), ("tk-02", "taman-kota")])
    hub = build_app(central_cfg(db), storage)[HUB]
    open_page, new_page = Page(), Page()

    async def go() -> None:
        hub.join(open_page, "sid-a", hub.current())  # type: ignore[arg-type]
        await hub.tick()
        open_page.got.clear()
        snapshot = hub.current()  # the new page's snapshot: tk-01 online
        storage.write([Incoming("taman-kota", "tk-01", NodeState.model_validate(
            {"site": "taman-kota", "node": "tk-01", "ts_ms": 1, "online": False,
             "session": 1}), 1)])
        await hub.tick()  # the open page learns; the new page has not joined yet
        assert [v["node"] for d in open_page.diffs() for v in d["changed"]] == ["tk-01"]
        hub.join(new_page, "sid-b", snapshot)  # type: ignore[arg-type]
        await hub.tick()  # nothing changed since: only the page that missed it gets a diff

    try:
        run_async(go())
        diffs = new_page.diffs()
        assert len(diffs) == 1, new_page.got
        assert [(v["node"], v["state"]) for v in diffs[0]["changed"]] == [("tk-01", "offline")]
        assert diffs[0]["tiles"]["offline"] == 1 and diffs[0]["tiles"]["online"] == 1
        assert len(open_page.diffs()) == 1  # the open page got that change once
        hub.leave(new_page)  # type: ignore[arg-type]
        assert new_page not in hub.clients and new_page not in hub.shown
    finally:
        hub.close()
        storage.close()
