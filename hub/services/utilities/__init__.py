"""Utilities: electricity, water, diesel and oxygen meters, their readings, daily use and alerts."""
