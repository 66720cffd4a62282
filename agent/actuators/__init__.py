"""actuators of the kotanet agent."""
