"""``petition api``: the HTTP API for staff, backend services and petitioners."""
