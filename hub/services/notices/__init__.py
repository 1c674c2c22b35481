"""Notices about the work: who is told what (in the app and by e-mail), and how they want it."""
