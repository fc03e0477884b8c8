"""Against the real docker-registry on loopback, through regproxy and directly."""
