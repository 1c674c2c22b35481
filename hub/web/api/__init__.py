"""The JSON API under /api/v1: its routes, its one guard and its OpenAPI description."""
