//! Integration tests: the real binary against real servers.
