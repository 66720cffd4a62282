"""Commands to nodes: desired state with per-node versions, leader epochs and expiry.

``params`` (what central refuses to send), ``store`` (commands, acks, desired state and the
leader lease in central's SQLite state database; its SQL in ``_sql``), ``service`` (issue,
acks, re-send on birth, lease renewal; the MQTT publisher), ``api`` (the HTTP routes),
``leader`` (the DB lease with epoch fencing), ``gap_resync`` (resync nodes with gaps),
``signer`` (Ed25519 command signing and key announcements) and ``evidence`` (the signed proof a
birth must carry before its epoch may raise central's).
"""
