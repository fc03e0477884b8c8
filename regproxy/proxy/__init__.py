"""Forwarding: header hygiene and rewriting (pure), the upstream client, streaming."""
