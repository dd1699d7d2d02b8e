"""Recording files: where a call's audio lies, its generated name, and the facts kept
about it (size, duration, hash). The call path, the purge, data-subject rights and the
web player all reach audio through here.
"""
