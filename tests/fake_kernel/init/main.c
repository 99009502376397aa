int start_kernel(void) { return 0; }
