"""The MQTT collector: shared subscription -> bounded queue -> batched commit -> receipt -> ack.

``service`` (the Collector), ``ingest`` (decode and check one message), ``ack_order``
(PUBACKs in arrival order), ``stats`` (counters), ``metrics`` (their Prometheus lines) and
``mqtt_conn`` (credentials, TLS and TCP_NODELAY of central's paho clients).
"""

from central.collector.service import Collector, seq_ranges

__all__ = ["Collector", "seq_ranges"]
