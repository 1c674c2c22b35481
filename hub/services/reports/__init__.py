"""Maintenance KPIs and their exports."""
