"""Utilities pages: meters, hand readings and monthly use per department."""
