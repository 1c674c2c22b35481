"""Service contracts and warranties: what they cover, which assets, until when; the warnings
before they end; the contract a work order on a covered asset falls under."""
