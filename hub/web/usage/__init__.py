"""The usage pages."""
