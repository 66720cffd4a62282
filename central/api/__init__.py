"""Central's HTTP API: the app factory (``app``), Bearer-token auth and route guards (``auth``),
the nodes read API (``nodes``), ``/metrics`` (``metrics``) and the client address behind
trusted proxies (``client_addr``). Features add their routes with ``auth.add_routes``."""
