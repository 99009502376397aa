"""pgo-orch kernel package."""
