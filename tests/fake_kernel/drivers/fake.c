int driver(void) { return 1; }
