"""kotanet central: collectors, storage, JSON API, metrics, commands, policy, alerts and NOC.

One package per feature; ``central.assemble`` is the composition root that wires them.
"""
