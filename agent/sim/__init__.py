"""Simulated Sampit fleet: real agents fed by simulated probes (demo, e2e tests, benchmarks)."""
