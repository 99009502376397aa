"""pgo-orch workflows package."""
