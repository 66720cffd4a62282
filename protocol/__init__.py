"""kotanet wire protocol v1 (stdlib + pydantic only): topics.py, limits.py (every bound),
envelope.py, messages.py and commands.py (the models), codec.py (bytes <-> model), params.py
(command params contract) and signing.py (what central signs)."""

PROTOCOL_VERSION = 1
