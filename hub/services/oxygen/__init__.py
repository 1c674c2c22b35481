"""Medical gas cylinders: the register with labels, movements scanned on a phone (filled in,
empty out, transfer, in use, quarantine), storage places checked against NFPA 99's limits, and
consumption per department and month."""
