"""Notifications of incidents and the weekly budget report (issue 16).

``config`` (the [notify] TOML section, secrets from files/environment), ``catalogue`` (texts
in English and Bahasa Indonesia from catalogue.toml), ``routing`` (pure: which routes hear a
message), ``outbox`` (the durable queue in the state database), ``channels`` (Telegram, SMTP
with STARTTLS, signed webhooks), ``sender`` (the leader's in-order delivery with backoff),
``report`` (the weekly budget e-mail) and ``setup`` (wiring for central.assemble).
"""
