"""Who is calling: the Principal model, credentials, authenticators (pure where it can be)."""
