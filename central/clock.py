"""Central's one wall clock: milliseconds since the Unix epoch.

Everything central stamps or compares with node time (received_ms, leases, command expiry,
alerts, NOC sessions) reads it here; services take a ``clock_ms`` callable defaulting to
``wall_ms`` so that tests and demos can inject their own time.
"""

from __future__ import annotations

import time


def wall_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return int(time.time() * 1000)
