"""The ingest tables, defined in :mod:`hub.db.models.ingest` (migration ``0013_ingest_tables``).

Kept for the modules that still import them from here; nothing is created at run time.
"""

from hub.db.models.ingest import batch_sequence, dead_letters, events, gateway_state, workers

__all__ = ["batch_sequence", "dead_letters", "events", "gateway_state", "workers"]
