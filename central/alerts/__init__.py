"""Alerts: pure rules with hysteresis over live samples, stored openings, operator acks.

``model`` (thresholds, inputs, trackers), ``rules`` (the pure rules, ``evaluate`` and the
texts in English and Bahasa Indonesia), ``inputs`` (the rules' inputs from central's
storage), ``store`` (the alerts table), ``service`` (the leader's evaluation loop and its
/metrics lines) and ``api`` (routes and ``setup_alerts``).
"""
