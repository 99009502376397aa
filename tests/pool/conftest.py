"""The real pool tests use the vm tests' kernels and QEMU leak check."""

from tests.vm.conftest import default_kernel, no_leaked_qemu  # noqa: F401
