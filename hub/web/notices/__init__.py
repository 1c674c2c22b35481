"""Notices in the UI: the bell in the header, the inbox, preferences and e-mail delivery."""
