"""The Wardlink hub: MQTT ingest, telemetry stores, rules, maintenance domain and admin UI.

The hub meets gateways only on the wire (``wardlink.protocol``); it never imports ``edge``
or ``hardware``.
"""
