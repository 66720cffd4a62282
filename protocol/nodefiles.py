"""The node's files as central delivers them at enrolment, and the hash both sides compute.

A node's files are its bundle (provisioning) minus ``etc/kotanet/mqtt-password`` (the node
makes its own password). Each file travels as ``{"path", "mode", "group", "sha256", "data"}``
(``path`` relative to the node's root, ``data`` base64); ``files_hash`` is the sha256 over the
sorted paths and contents (docs/protocol.md 10.1), so the NOC's manifest, the enrolment answer
and the agent's birth (``files_hash``) can be compared.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

#: where a delivered file may go (relative to the node's root)
PATH_RE = re.compile(r"etc/(?:[A-Za-z0-9_.+-]+/)*[A-Za-z0-9_.+-]+")
MAX_FILES = 64
MAX_FILE_BYTES = 256 * 1024
LOCAL_ONLY = frozenset({"etc/kotanet/mqtt-password"})
#: the node's own record of what it applied (not part of the hash)
MANIFEST_NAME = "node-files.json"


def valid_path(path: str) -> bool:
    """True for a relative path under etc/ without '..' or empty parts."""
    return bool(PATH_RE.fullmatch(path)) and ".." not in path.split("/")


def files_hash(files: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over the sorted (path, content) pairs: path, NUL, length, NUL, content."""
    h = hashlib.sha256(b"kotanet.node_files/1\0")
    for path, data in sorted(files):
        h.update(path.encode() + b"\0" + str(len(data)).encode() + b"\0")
        h.update(data)
    return h.hexdigest()
