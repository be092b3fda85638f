"""qmvc: a mail and virus control filter for qmail."""

__version__ = "0.1.0"
