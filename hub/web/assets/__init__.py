"""Asset pages: the register, bulk import, QR codes and label sheets."""
