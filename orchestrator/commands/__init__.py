"""One module per pgo-orch subcommand."""
