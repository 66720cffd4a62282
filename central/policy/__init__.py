"""Central throttling policy: pure functions of observations, schedules and overrides."""

from central.policy.engine import decide
from central.policy.model import (
    Decision,
    NodeObs,
    Override,
    ParkEvent,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Schedule,
    SiteInfo,
    Throttle,
    UplinkObs,
    Upstream,
)

__all__ = ["decide", "Decision", "NodeObs", "Override", "ParkEvent", "PolicyConfig",
           "PolicyInputs", "PolicyState", "Schedule", "SiteInfo", "Throttle", "UplinkObs",
           "Upstream"]
