"""Helpers shared by the test tiers (no tests here)."""
