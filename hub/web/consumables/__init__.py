"""Department consumables pages: the lists, an item with its log, receipts, collections and monthly consumption."""
