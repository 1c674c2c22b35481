"""The root of every exception Wardlink raises."""


class WardlinkError(Exception):
    """Base class for all Wardlink errors; catch this to catch any of ours."""
