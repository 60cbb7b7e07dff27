"""Small programs the tests run as separate OS processes (several writers, several workers)."""
