"""GPIO drivers built on gpiozero, with the pin factory injected by the backend."""
