"""Virus scanning engines: clamd over its socket, classic command-line scanners as data."""
