"""Grafana as code: the dashboards (built from panel tables) and the API push."""
