"""policy of the kotanet agent."""
