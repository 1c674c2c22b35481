"""The gas cylinder pages (see :mod:`.pages`)."""
