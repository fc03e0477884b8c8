"""Source text loaders shared by the identity and policy layers (below both, no I/O)."""
