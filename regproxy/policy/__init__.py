"""What is allowed: one policy model, five dialects, one evaluator (pure)."""
