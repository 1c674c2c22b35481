"""1-wire drivers that read the Linux w1 sysfs tree, and its emulated counterpart."""
