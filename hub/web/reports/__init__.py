"""The reports page and the KPI report as PDF."""
