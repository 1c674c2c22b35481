"""Users, roles and permissions, sites and departments, sign-in."""
