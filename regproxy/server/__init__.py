"""The edge: the aiohttp application, the /v2 handler, the token endpoint, admin endpoints."""
