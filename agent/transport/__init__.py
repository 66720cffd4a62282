"""transport of the kotanet agent."""
