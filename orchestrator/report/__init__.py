"""pgo-orch report package."""
