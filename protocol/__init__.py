"""Circle's sans-I/O protocol core: frames, crypto, invites and circle state (no I/O)."""
