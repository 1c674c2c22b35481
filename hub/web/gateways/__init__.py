"""Gateway pages, enrollment, and the ingest page."""
