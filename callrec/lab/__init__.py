"""A real Asterisk 22 and SIPp test peers on this machine, for tests and demos.

:mod:`callrec.lab.asterisk` builds a Debian sid chroot with Asterisk (Debian's stable
releases have none), installs ``asterisk-config/`` and ``sounds/`` into it and runs it on
127.0.0.1. :mod:`callrec.lab.sipp` places calls into it and plays the agents. Everything
stays on loopback; the lab needs root (chroot, mount).
"""

from callrec.lab.asterisk import DEFAULT_LAB_ROOT, AsteriskLab, LabStatus

__all__ = ["DEFAULT_LAB_ROOT", "AsteriskLab", "LabStatus"]
