"""The call path's adapters and its running service: ARI (:mod:`callrec.calls.ari`), the
FastAGI hooks (:mod:`callrec.calls.agi`), the database thread the call flow writes through
(:mod:`callrec.calls.database_thread`) and :class:`~callrec.calls.service.CallService`,
which feeds ARI events and FastAGI reports to the domain's call flow.

The rules of a call live in :mod:`callrec.domain`; nothing here decides what a call does.
"""
