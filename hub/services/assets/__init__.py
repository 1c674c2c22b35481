"""The equipment register."""
