"""Qt ring: thin dock widgets. Each handler reads widget values and calls one pure function."""
