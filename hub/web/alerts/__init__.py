"""Alert pages, the alert rules page, and the fragments that refresh alerts in place."""
