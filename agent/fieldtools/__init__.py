"""On-site tools for technicians: the status snapshot, `status`, `selftest`, the LAN status page."""
