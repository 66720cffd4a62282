"""A real kotanet-central leader is SIGKILLed mid-delivery; the next leader loses none of the
queued notifications and sends none of the delivered ones again."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from central.clock import wall_ms
from central.notify.outbox import OutboxStore
from provisioning.localbroker import LocalBroker, free_port
from tests.notify.receivers import HttpReceiver

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


def central_toml(path: Path, instance: str, hook_url: str, key_file: Path) -> Path:
    path.write_text(f"""
instance = "{instance}"
[policy]
leader_ttl_s = 2
interval_s = 0.5
[notify]
retry_min_s = 0.1
retry_max_s = 1
[[notify.channels]]
id = "hook"
type = "webhook"
url = "{hook_url}"
secret_file = "{key_file}"
[[notify.routes]]
id = "hook"
channel = "hook"
lang = "en"
""")
    return path


def test_central_leader_killed_mid_delivery_loses_none_sends_none_twice(
        broker: LocalBroker, tmp_path: Path) -> None:
    async def main() -> None:
        recv = await HttpReceiver().start()
        key_file = tmp_path / "hook.key"
        key_file.write_text("webhook-key")
        db = tmp_path / "central.db"
        outbox = OutboxStore(db)
        keys = [f"kotanet-incident-{i}-opened-hook" for i in range(1, 7)]
        for k in keys:  # six queued notifications (as the incident rounds queue them)
            outbox.add(k, "hook", "opened", {"idempotency_key": k, "event": "opened"},
                       wall_ms())
        recv.hold = keys[2]  # the receiver takes message 3 but does not answer yet

        async def start(instance: str) -> asyncio.subprocess.Process:
            env = {**os.environ, "KOTANET_MQTT_URL": broker.url("kt-test"),
                   "KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": f"127.0.0.1:{free_port()}",
                   "PYTHONPATH": str(ROOT)}
            cfg = central_toml(tmp_path / f"{instance}.toml", instance, recv.url + "/hook",
                               key_file)
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "central.cli", "--config", str(cfg), env=env, cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        first = second = None
        try:
            first = await start("central-a")
            await asyncio.wait_for(recv.arrived.wait(), 60)
            first.kill()  # SIGKILL: no clean shutdown, the lease is not released
            await first.wait()
            assert first.returncode == -9
            assert [r["status"] for r in outbox.rows()] == [
                "sent", "sent", "sending", "pending", "pending", "pending"]
            recv.hold = None
            recv.release.set()
            second = await start("central-b")  # leads once central-a's lease lapsed
            for _ in range(600):  # bounded: 60 s
                if outbox.counts() == {"sent": 6}:
                    break
                await asyncio.sleep(0.1)
            assert outbox.counts() == {"sent": 6}
            assert [r["claimed_by"] for r in outbox.rows()] == [
                "central-a", "central-a", "central-b", "central-b", "central-b", "central-b"]
        finally:
            for proc in (first, second):
                if proc is not None and proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
            outbox.close()
            await recv.stop()
        # 1 and 2 once; 3 twice with one idempotency key (in flight at the kill); 4-6 once
        assert recv.keys == [*keys[:3], keys[2], *keys[3:]]
        assert [w["idempotency_key"] for w in recv.webhooks] == keys
        assert recv.bad_signatures == 0
    asyncio.run(main())
