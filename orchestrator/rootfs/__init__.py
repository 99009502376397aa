"""pgo-orch rootfs package."""
