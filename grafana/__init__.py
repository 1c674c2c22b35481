"""Grafana's files for Wardlink: data, not code.

The folder installs as ``wardlink.grafana`` so that an installed wheel carries the datasource
YAML and the dashboard JSON (package data) and ``wardlink grafana push`` finds them with
``importlib.resources``, in a source checkout and in a virtualenv alike.
"""
