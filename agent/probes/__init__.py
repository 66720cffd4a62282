"""probes of the kotanet agent."""
