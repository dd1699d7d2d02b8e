"""Who may reach which recordings, and the trace every access leaves.

Pure domain code: roles, scopes, credentials and the hash chain of the access log. HTTP
lives in :mod:`callrec.web`, SQL in :mod:`callrec.storage`.
"""
