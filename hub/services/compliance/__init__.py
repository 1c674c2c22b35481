"""Compliance: recalls and field safety notices (the openFDA file, matching the register, the
recall work orders, the dashboard) and Fennigkoh-Smith risk scoring."""
