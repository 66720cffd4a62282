"""Mosquitto broker files: PBKDF2-SHA512 password hashes, the ACL, and mosquitto.conf."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from protocol.codec import MAX_PAYLOAD_BYTES
from protocol.topics import DEFAULT_PREFIX, DOWNLINK_KINDS, UPLINK_KINDS, Topics

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$ (password_hash's default)
#: What kotanet writes for every generated hash. Mosquitto reads the count from each $7$ line
#: and checks a password on every CONNECT in its single thread: 10 000 rounds of PBKDF2-SHA512
#: cost a few ms, so a broker restart with hundreds of nodes reconnecting stays responsive.
GENERATED_ITERATIONS = 10_000
#: MQTT fixed header + topic (< 200 bytes) + MQTT 5 properties, generously.
PACKET_OVERHEAD = 4096
#: Largest packet the broker accepts: a kotanet payload at the codec's limit plus overhead.
MAX_PACKET_SIZE = max(300_000, MAX_PAYLOAD_BYTES + PACKET_OVERHEAD)


def password_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A mosquitto 2.x `$7$` (PBKDF2-SHA512) password hash, as mosquitto_passwd writes it."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def generated_hash(password: str) -> str:
    """A new `$7$` hash at kotanet's iteration count (every hash provisioning writes)."""
    return password_hash(password, iterations=GENERATED_ITERATIONS)


def is_current(hashed: str) -> bool:
    """True if a `$7$` hash uses at least kotanet's iteration count (else: rehash on rewrite)."""
    parts = hashed.split("$")
    return len(parts) == 5 and parts[2].isdigit() and int(parts[2]) >= GENERATED_ITERATIONS


def check_password(password: str, hashed: str) -> bool:
    """True if password matches a `$7$` hash line value."""
    try:
        _, seven, iters, salt_b64, digest_b64 = hashed.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    salt = base64.b64decode(salt_b64)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iters))
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def password_file(users: dict[str, str]) -> str:
    """Render a password file from {username: $7$ hash}."""
    return "".join(f"{user}:{h}\n" for user, h in sorted(users.items()))


#: What a node does on the broker, and nothing more (docs/protocol.md 2.1): it publishes its
#: four uplink kinds (``state`` retained, and as its Will), reads its own commands and
#: receipts and every central's presence. Not its own state back, not another site's topics.
NODE_WRITES = UPLINK_KINDS
NODE_READS = DOWNLINK_KINDS


def node_rules(site: str, node: str, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The ACL lines of one node user: its own topics under its own site only."""
    t = Topics(prefix)
    return [*(f"topic write {t.node_filter(k, site, node)}" for k in NODE_WRITES),
            *(f"topic read {t.node_filter(k, site, node)}" for k in NODE_READS),
            f"topic read {t.all_central_states()}"]


def acl_file(prefix: str = DEFAULT_PREFIX, central_users: tuple[str, ...] = ("central",),
             superusers: tuple[str, ...] = (), *,
             nodes: Mapping[str, tuple[str, str]]) -> str:
    """The broker ACL: central users read and write the kotanet tree; every node user gets
    exactly :func:`node_rules` for its ``(site, node id)`` (``nodes``: {username: (site,
    node)}; the username is the node id, or a rotation alias of it). No ``pattern`` lines: a
    pattern cannot name the node's site, and a user listed nowhere gets nothing."""
    lines = ["# kotanet broker ACL (generated). Nodes: username = node id (or its alias).", ""]
    for user in (*central_users, *superusers):
        lines += [f"user {user}", f"topic readwrite {prefix}/#"]
        if user in superusers:
            lines.append("topic readwrite #")
        lines.append("")
    lines.append("# every node: only its own topics, under its own site")
    for user, (site, node) in sorted(nodes.items()):
        lines += [f"user {user}", *node_rules(site, node, prefix), ""]
    return "\n".join(lines) + "\n"


def mosquitto_conf(*, port: int, password_file: str, acl_file: str, bind: str = "127.0.0.1",
                   persistence_dir: str | None = None, log_file: str | None = None,
                   tls: dict[str, str] | None = None, max_queued_messages: int = 10000,
                   run_as: str | None = None) -> str:
    """A mosquitto.conf for a kotanet broker (MQTT 5 clients, auth required)."""
    lines = [
        "# kotanet broker (generated)",
        "per_listener_settings false",
        *([f"user {run_as}"] if run_as else []),
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        f"max_queued_messages {max_queued_messages}",
        # a node must not make every collector copy a huge message (broker default: 256 MB)
        f"max_packet_size {MAX_PACKET_SIZE}",
        "max_inflight_messages 20",
        "set_tcp_nodelay true",  # small QoS1 packets: no Nagle delay on commands and receipts
        f"listener {port} {bind}",
    ]
    if tls:
        lines += [f"cafile {tls['cafile']}", f"certfile {tls['certfile']}",
                  f"keyfile {tls['keyfile']}", "tls_version tlsv1.2"]
        if tls.get("require_certificate"):
            lines += ["require_certificate true", "use_identity_as_username true"]
    if persistence_dir:
        lines += ["persistence true", f"persistence_location {persistence_dir.rstrip('/')}/"]
    else:
        lines.append("persistence false")
    if log_file:
        lines += [f"log_dest file {log_file}", "log_type error", "log_type warning",
                  "log_type notice", "log_type information", "connection_messages true"]
    else:
        lines.append("log_dest none")
    return "\n".join(lines) + "\n"


def reader_acl(users: tuple[str, ...], prefix: str = DEFAULT_PREFIX) -> str:
    """ACL blocks for read-only users (e.g. 'verifier'): read every kotanet topic, write none."""
    return "".join(f"user {u}\ntopic read {prefix}/#\n\n" for u in users)


def read_password_file(text: str) -> dict[str, str]:
    """Parse a mosquitto password file into {username: hash}."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#") and ":" in line:
            user, _, hashed = line.partition(":")
            users[user] = hashed.strip()
    return users
