"""regproxy test suites: unit (pure), integration (real registry), e2e (real clients)."""
