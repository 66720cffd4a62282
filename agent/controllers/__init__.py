"""JOIN: controllers between policy (decide) and actuators (act), typed against Protocols."""
