"""Gateways, their channels and bindings, enrollment, and what ingest recorded about them."""
