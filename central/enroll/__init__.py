"""Enrolment: a node exchanges its one-time token for its agent.toml and MQTT login.

``service`` (the decision: token, manifest, single use, broker admission, seq/session
floors, the node's files) and ``api`` (the open POST /enroll/v1 route, its rate limit and
``setup_enroll``); ``apt`` serves the deployment's apt repository under /apt/.
"""

from central.enroll.api import RateLimiter, setup_enroll
from central.enroll.service import Enroller, EnrollError

__all__ = ["EnrollError", "Enroller", "RateLimiter", "setup_enroll"]
