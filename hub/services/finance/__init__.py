"""Asset finance: straight-line depreciation and book value, cost of ownership per year, and
whether an asset's repairs cost enough to consider replacing it."""
