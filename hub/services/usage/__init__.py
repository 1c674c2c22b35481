"""Usage of equipment: sessions started by scanning, the knowledge shown before use, training
records and rentals and loaners."""
