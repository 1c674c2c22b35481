"""I2C drivers (one module per chip) and the emulated I2C bus they can run on."""
