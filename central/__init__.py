"""kotanet central: collectors, storage, JSON API and metrics."""
