"""Maintenance pages: plans, the calendar, work orders, and the public problem report."""
