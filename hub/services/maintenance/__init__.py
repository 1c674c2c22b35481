"""Planned maintenance, work orders, checklists, service levels and e-signatures."""
