"""``callrec web``: the HTTP API and the browser player (aiohttp).

Handlers only translate HTTP: who may see what is decided in :mod:`callrec.access`, and
SQL lives in :mod:`callrec.storage`.
"""
