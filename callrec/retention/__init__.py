"""Retention: which recordings and history rows have outlived their period, and the purge
that deletes them (see docs/retention.md). ``rules`` is pure; ``purge`` depends only on the
ports in ``ports``; SQL lives in :mod:`callrec.storage.purge_dao`."""
