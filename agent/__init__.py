"""kotanet agent: runs on each Raspberry Pi hotspot node."""

__version__ = "0.1.0"
