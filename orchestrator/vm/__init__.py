"""pgo-orch vm package."""
