"""The engine: a compiled decision tree walked against one message's facts."""
