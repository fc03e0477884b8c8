"""Real clients (skopeo, podman) through regproxy."""
