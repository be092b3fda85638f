"""Mutation testing (issue 14): `bash tests/mutation/run`, see README.md here."""
