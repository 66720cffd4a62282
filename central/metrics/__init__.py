"""Central's /metrics: one prometheus-client CollectorRegistry per app, filled with Collector
classes that read current state when Prometheus scrapes (nothing is updated on the hot path).

``registry`` builds and renders the registry; ``fleet`` exports the nodes central knows
(presence, users, per-uplink RTT/loss/up, active uplink, throttle, last seen); ``commands`` the
command stages; ``alerts`` the alert counts. The collector's own counters live beside it in
``central.collector.metrics``; ``central.assemble`` registers every source.
"""
