"""Signing in, the account page, and people administration."""
