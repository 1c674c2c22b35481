"""Compliance pages: recalls and field safety notices (dashboard, import, review, notices)."""
