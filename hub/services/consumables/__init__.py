"""Department consumables: each department's list of items kept by procurement, and the
append-only log of receipts and collections that gives each item its balance."""
