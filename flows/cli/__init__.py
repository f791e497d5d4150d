"""The command line ``market-reaction``."""
