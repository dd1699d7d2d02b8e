"""Encryption at rest: sealed recordings, the key store, master keys (docs/encryption.md)."""
