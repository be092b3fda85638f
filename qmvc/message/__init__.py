"""Message analysis: raw bytes and an envelope in, lazy facts out."""

from qmvc.message.envelope import Envelope
from qmvc.message.facts import Attachment, MessageFacts

__all__ = ["Attachment", "Envelope", "MessageFacts"]
