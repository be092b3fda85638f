"""What `deliver` does with a verdict: keep (maildir), forward (inject), tell people (notices).

Importing this package imports nothing: `maildir` and `inject` stay on the hot path with the
stdlib only, and `notices` (Jinja2) is imported only when a notice is due.
"""
