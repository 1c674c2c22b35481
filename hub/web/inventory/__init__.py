"""Inventory pages: parts, stock, suppliers, storage, labels and imports."""
