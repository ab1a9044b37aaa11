"""Test helpers shared by the whole suite (real server processes, polling)."""
