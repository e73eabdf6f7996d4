"""Who is calling: verified tokens, roles and their permissions, jurisdiction scopes."""
