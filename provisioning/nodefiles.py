"""A bundle as the node's files: what enrolment delivers, with modes, groups and the hash.

Every file of ``bundles/nodes/<id>/`` except the build-time MQTT password (the node makes its
own at enrolment) goes to the node through the enrolment answer, never onto the SD card:
hostapd.conf holds the Wi-Fi passphrase and client.key the node's private key.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from protocol.nodefiles import LOCAL_ONLY, files_hash

#: path -> (mode, group); etc/kotanet/* is 0640 root:kotanet (the agent's user reads it, the
#: world does not), everything else 0644 root
MODES: dict[str, tuple[int, str]] = {
    "etc/hostapd/hostapd.conf": (0o600, "root"),
}
KOTANET_DIR = "etc/kotanet/"


def bundle_files(bundle: Path) -> dict[str, bytes]:
    """The node's files of a bundle directory, by path relative to the node's root."""
    return {p.relative_to(bundle).as_posix(): p.read_bytes()
            for p in sorted(bundle.rglob("*")) if p.is_file()
            and p.relative_to(bundle).as_posix() not in LOCAL_ONLY}


def bundle_hash(bundle: Path) -> str:
    """files_hash of a bundle (recorded in the manifest as ``files_hash``)."""
    return files_hash(bundle_files(bundle).items())


def delivery(bundle: Path) -> list[dict[str, Any]]:
    """The enrolment answer's ``node_files``."""
    out = []
    for path, data in bundle_files(bundle).items():
        mode, group = MODES.get(path, (0o640, "kotanet") if path.startswith(KOTANET_DIR)
                                else (0o644, "root"))
        out.append({"path": path, "mode": f"{mode:04o}", "group": group,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "data": base64.b64encode(data).decode()})
    return out
