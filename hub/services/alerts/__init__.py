"""Alerts and the notifications about them."""
