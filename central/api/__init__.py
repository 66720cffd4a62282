"""Central's HTTP API: the app factory with /healthz and /metrics (``app``), typed app state
(``state``), Bearer-token auth and route guards (``auth``), the nodes read API (``nodes``) and
the client address behind trusted proxies (``client_addr``). Features add their routes with
``auth.add_routes``."""
