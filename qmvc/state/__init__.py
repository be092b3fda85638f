"""Counters, episodes and the verdict cache, shared by concurrent deliveries.

Every `qmvc deliver` is its own process, so what one delivery learns must live in a store
the next one reads: SQLite under QMVC_DIR by default, Redis when several mail hosts share
one picture. Both implement `base.StateStore` with the same semantics. Import the store
you need (`qmvc.state.factory.open_store`); this package imports nothing itself, so the
delivery hot path pays only for the store its policy names.
"""
