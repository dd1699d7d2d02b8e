"""callrec: GDPR-minded call recording for Asterisk contact centres."""

__version__ = "0.1.0"
