"""Properties: any MIME tree the stdlib builds comes back with the same names and types; any
bytes at all yield facts without an exception."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qmvc.message import Envelope, MessageFacts

ENVELOPE = Envelope.from_addresses("a@example.org", "b@example.com")
TYPES = [
    ("application", "pdf"),
    ("application", "octet-stream"),
    ("application", "zip"),
    ("application", "x-msdownload"),
    ("image", "png"),
    ("audio", "mpeg"),
    ("video", "mp4"),
]
NAME_CHARACTERS = st.characters(
    categories=("L", "N", "P", "S", "Zs"), exclude_characters="\u2028\u2029\x85"
)


@dataclass(frozen=True)
class File:
    name: str
    maintype: str
    subtype: str
    content: bytes
    name_in_rfc2047: bool


@dataclass(frozen=True)
class Folder:
    """A nested multipart/mixed."""

    children: list[File | Folder]


WORD_CHARACTERS = st.characters(categories=("L", "N", "P", "S"))
subjects = st.lists(st.text(WORD_CHARACTERS, min_size=1, max_size=15), max_size=6).map(" ".join)
names = st.text(NAME_CHARACTERS, min_size=1, max_size=120).filter(lambda name: name.strip() == name)
files = st.builds(
    lambda name, kind, content, rfc2047: File(name, *kind, content, rfc2047),
    names,
    st.sampled_from(TYPES),
    st.binary(max_size=300),
    st.booleans(),
)
trees = st.recursive(
    files, lambda inner: st.builds(Folder, st.lists(inner, min_size=1, max_size=4)), max_leaves=12
)


def build(node: File | Folder, into: EmailMessage) -> None:
    """Adds the node as the stdlib would send it; RFC 2047 names as real clients put them."""
    if isinstance(node, Folder):
        folder = EmailMessage()
        folder.make_mixed()
        for child in node.children:
            build(child, folder)
        into.attach(folder)
        return
    into.add_attachment(node.content, node.maintype, node.subtype, filename=node.name)
    if node.name_in_rfc2047:
        word = "=?utf-8?B?" + base64.b64encode(node.name.encode()).decode() + "?="
        into.get_payload()[-1].replace_header(
            "Content-Disposition", f'attachment; filename="{word}"'
        )


def leaves(node: File | Folder) -> list[File]:
    return [node] if isinstance(node, File) else [f for c in node.children for f in leaves(c)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees, min_size=1, max_size=4), subjects)
def test_stdlib_built_tree_round_trips_names_and_types(
    tree: list[File | Folder], subject: str
) -> None:
    message = EmailMessage()
    message["Subject"] = subject
    message.set_content("The body.\n")
    message.make_mixed()
    for node in tree:
        build(node, message)
    raw = bytes(message)
    facts = MessageFacts(raw, ENVELOPE)
    expected = [(f.name, f"{f.maintype}/{f.subtype}", f.content) for n in tree for f in leaves(n)]
    found = [
        (a.names[0].raw if a.names else "", a.declared_type, a.content) for a in facts.attachments
    ]
    assert found == expected
    assert facts.body_text == "The body.\n"
    # the stdlib's folder can drop a space between encoded words, so its own reader is the oracle
    assert facts.subject == message_from_bytes(raw, policy=default)["subject"]
    # random content may begin like an archive or TNEF and then be a broken one: only that may be
    assert [d for d in facts.defects if ": archive" not in d and "TNEF" not in d] == []


MIME_TOKENS = st.sampled_from(
    [
        b"\n",
        b"\r\n",
        b"--b\n",
        b"--b--\n",
        b"Content-Type: multipart/mixed; boundary=b\n",
        b"Content-Type: message/rfc822\n",
        b"Content-Type: text/html; charset=idna\n",
        b"Content-Type: text/plain; charset*=x''\n",
        b"Content-Transfer-Encoding: base64\n",
        b"Content-Transfer-Encoding: quoted-printable\n",
        b"Content-Transfer-Encoding: x-uuencode\n",
        b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1=\"=?x?B?\"\n",
        b"Subject: =?utf-8?B?w6k=?==?utf-8?Q?=0A?=\n",
        b"begin 644 x\n",
        b"<script><!--<p>&#x110000;",
        b"=?utf-8?B?",
        b"?=",
        b"\0",
        b"\xff\xfe",
    ]
)


def every_fact(raw: bytes) -> None:
    facts = MessageFacts(raw, ENVELOPE)
    assert isinstance(facts.subject, str) and isinstance(facts.header("x"), list)
    assert isinstance(facts.body_text, str) and isinstance(facts.defects, list)
    for attachment in facts.attachments:
        assert attachment.size == len(attachment.content) and attachment.sniffed_type
    assert isinstance(facts.scan_parts(), list)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=4000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    every_fact(raw)


@settings(max_examples=500, deadline=None)
@given(st.lists(MIME_TOKENS | st.binary(max_size=40), max_size=60).map(b"".join))
def test_random_mime_fragments_never_raise(raw: bytes) -> None:
    every_fact(raw)
