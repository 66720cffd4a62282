"""kotanet provisioning: inventory -> node bundles, credentials, broker files, SD-card seeds."""
