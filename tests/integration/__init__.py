"""Tests against the real Asterisk lab (marked ``asterisk``; they fail, never skip)."""
