"""The OCI distribution wire: names, references, routes, token scopes (pure)."""
