"""Spare parts and stock: the catalogue, suppliers, storage, the stock ledger, low stock and the
parts picked for work orders."""
