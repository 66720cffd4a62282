"""Central throttling policy: pure functions of observations, schedules and overrides.

The pure engine (``engine``, ``model``, ``congestion``, ``schedule``, ``reasons``; time passed
in, no I/O) is what this package exports. Kept apart from it, never imported by it: ``config``
(the fleet sections of central's config), ``fleet`` (config -> engine inputs), ``loop`` (the
leader's background task that issues commands) and ``api`` (GET /api/v1/policy).
"""

from central.policy.engine import decide
from central.policy.model import (
    NodeObs,
    Override,
    ParkEvent,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Schedule,
    SiteInfo,
    Throttle,
    ThrottleDecision,
    UplinkObs,
    Upstream,
)

__all__ = ["decide", "ThrottleDecision", "NodeObs", "Override", "ParkEvent", "PolicyConfig",
           "PolicyInputs", "PolicyState", "Schedule", "SiteInfo", "Throttle", "UplinkObs",
           "Upstream"]
