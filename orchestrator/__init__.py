"""pgo-orch: a QEMU-based regression test orchestrator for clang PGO kernels."""

__version__ = "0.1.0"
