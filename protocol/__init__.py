"""kotanet wire protocol v1: topics, message models and the codec (stdlib + pydantic only)."""

PROTOCOL_VERSION = 1
