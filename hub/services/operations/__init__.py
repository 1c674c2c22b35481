"""Operating a hub: the backup archive (``wardlink backup``) and putting it back (``wardlink restore``).

:mod:`.archive` is the file format (manifest and checksums), :mod:`.stores` copies the stores
out and back with their own tools, :mod:`.backup` and :mod:`.restore` are the two commands'
work. docs/deployment.md ("Backup and restore", "Upgrading") is the runbook.
"""
