"""Data-subject rights (GDPR art. 15-21): find, export, rectify, erase, restrict, object.

Free of SQL and of the command line: :mod:`callrec.storage.rights_dao` stores, and
:mod:`callrec.commands.rights` is the DPO's interface. See docs/rights.md.
"""
