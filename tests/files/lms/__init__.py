"""Generators of LMS bulk downloads for the collect tests (no committed binaries)."""
