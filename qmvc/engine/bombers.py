"""Virus bombers: the same infected (or badmail) message again and again, from one source or
to one sink. Counted across deliveries in the state store; a message that is part of a
bombing gets its bomber rule's actions instead of its outcome's (no notice per copy), and
the AV guard gets one summary when the bombing starts and one when it ends.

A message belongs to a bombing when one of the rule's rates is over its threshold, or while
an earlier copy from the same source made it one within the rule's `quiet` period. The
rates count messages of the verdict's own kind (virus counts as `infected`) and include
this one. `explain` (record=False) counts without recording, so it changes nothing.

When the store is unavailable the rules are not applied (the trace and the log say so) and
the message gets its outcome's actions: a broken counter never defers or loses mail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime

from qmvc.engine.tree import BomberNode, ProfileTree, RateSpec, duration_text
from qmvc.engine.verdict import Action, TraceStep
from qmvc.message.facts import MessageFacts
from qmvc.record import Record
from qmvc.state.base import RETENTION_SECONDS, StateStore, StateUnavailable

KIND_OF_OUTCOME = {"virus": "infected", "badmail": "badmail"}


class Bombing(Record):
    """The bomber rule a message fell under, and what the summary notice needs."""

    rule: str
    kind: str
    source: str
    """A readable phrase: `sender anna@example.org`, `client 192.0.2.7`."""
    actions: tuple[Action, ...]
    quiet_seconds: float
    started: bool
    """True for the one delivery that opened the episode: it sends the start summary."""
    count: int


def client_ip(facts: MessageFacts, our_host: str) -> str:
    """The SMTP client's address as our own qmail-smtpd (`by our_host`) recorded it, the one
    a sender cannot forge (qmvc.message.received); "" when there is none."""
    address = facts.client_ip(our_host)
    return "" if address is None else str(address)


def _source_value(source: str, facts: MessageFacts, our_host: str) -> str:
    envelope = facts.envelope
    if source == "sender":
        return envelope.sender.lower()
    if source == "domain":
        return envelope.sender.rpartition("@")[2].lower()
    if source == "recipient":
        return envelope.recipient.lower()
    return client_ip(facts, our_host)


def _phrase(source: str, value: str) -> str:
    return {"domain": "sender domain", "client": "client"}.get(source, source) + f" {value}"


def _key(kind: str, source: str, value: str) -> str:
    return f"rate:{kind}:{source}:{value}"


def check_bombers(
    profile: ProfileTree,
    outcome: str,
    facts: MessageFacts,
    store: StateStore | None,
    record: bool,
    viruses: Sequence[str] = (),
    now: float | None = None,
    our_host: str = "",
) -> tuple[Bombing | None, list[TraceStep]]:
    """The bombing this message is part of (None if none), and the trace of the rates.
    `viruses` are kept with a new episode for its end summary; `our_host` is the name our
    qmail-smtpd writes, by which the client's address is found."""
    kind = KIND_OF_OUTCOME.get(outcome)
    if not profile.bombers or kind is None:
        return None, []
    if store is None:
        return None, [TraceStep("bombers", None, "skipped", "no state store")]
    now = time.time() if now is None else now
    try:
        sources = {
            rate.source: _source_value(rate.source, facts, our_host)
            for rate in _rates_of_kind(profile.bombers, kind)
        }
        counts = _counts(profile.bombers, kind, sources, store, record, now)
        return _first_bombing(profile.bombers, kind, sources, store, counts, record, viruses, now)
    except StateUnavailable as error:
        reason = f"state store unavailable, bomber rules not applied: {error}"
        return None, [TraceStep("bombers", None, "error", reason)]


def _rates_of_kind(bombers: Sequence[BomberNode], kind: str) -> Iterator[RateSpec]:
    return (rate for bomber in bombers for rate in bomber.rates if rate.kind == kind)


def _counts(
    bombers: Sequence[BomberNode],
    kind: str,
    sources: dict[str, str],
    store: StateStore,
    record: bool,
    now: float,
) -> dict[tuple[str, float], int]:
    """(source, window) → messages counted, this one included; each key recorded once."""
    windows: dict[str, float] = {}
    for rate in _rates_of_kind(bombers, kind):
        windows[rate.source] = max(windows.get(rate.source, 0.0), rate.window_seconds)
    counts: dict[tuple[str, float], int] = {}
    for source, longest in windows.items():
        value = sources[source]
        if not value:
            continue
        key = _key(kind, source, value)
        if record:
            [counts[(source, longest)]] = store.record([key], now, longest)
        for rate in _rates_of_kind(bombers, kind):
            if rate.source == source and (source, rate.window_seconds) not in counts:
                seen = store.count(key, now, rate.window_seconds)
                counts[(source, rate.window_seconds)] = seen + (0 if record else 1)
    return counts


def _first_bombing(
    bombers: Sequence[BomberNode],
    kind: str,
    sources: dict[str, str],
    store: StateStore,
    counts: dict[tuple[str, float], int],
    record: bool,
    viruses: Sequence[str],
    now: float,
) -> tuple[Bombing | None, list[TraceStep]]:
    trace: list[TraceStep] = []
    for bomber in bombers:
        for rate in bomber.rates:
            if rate.kind != kind:
                continue
            value = sources[rate.source]
            count = counts.get((rate.source, rate.window_seconds), 0)
            ongoing_key = f"bombing:{bomber.name}:{kind}:{rate.source}:{value}"
            ongoing = bool(value) and store.get(ongoing_key, now) is not None
            over = count > rate.threshold
            detail = f"{count} within {rate.window_seconds:g} s" + (
                "; a bombing from this source is under way" if ongoing and not over else ""
            )
            hit = bool(value) and (over or ongoing)
            trace.append(
                TraceStep(
                    f"bomber {bomber.name}: {rate.description}",
                    rate.span,
                    "true" if hit else "false",
                    detail if value else f"no {rate.source} to count",
                )
            )
            if not hit:
                continue
            started = False
            if record:
                store.put(ongoing_key, "1", now, bomber.quiet_seconds)
                episode = f"{bomber.name}|{kind}|{_phrase(rate.source, value)}"
                started, count = store.episode_event(episode, now, bomber.quiet_seconds)
                if started:
                    info = {
                        "actions": [" ".join((a.kind, *a.targets)) for a in bomber.actions],
                        "quiet_seconds": bomber.quiet_seconds,
                        "viruses": list(dict.fromkeys(viruses)),
                    }
                    store.put(f"episode:{episode}", json.dumps(info), now, RETENTION_SECONDS)
            bombing = Bombing(
                bomber.name,
                kind,
                _phrase(rate.source, value),
                bomber.actions,
                bomber.quiet_seconds,
                started,
                count,
            )
            return bombing, trace
    return None, trace


def ended_bombings(bombers: Sequence[BomberNode], store: StateStore) -> list[dict[str, object]]:
    """The bombings that have ended (no message for the longest `quiet` of the policy's
    bomber rules), each claimed by this delivery alone: the end summaries' variables.
    A store that fails ends nothing now; a later delivery will."""
    if not bombers:
        return []
    quiet = max(bomber.quiet_seconds for bomber in bombers)
    now = time.time()
    try:
        episodes = store.end_episodes(now, quiet)
        ended = []
        for episode in episodes:
            rule, kind, source = (episode.key.split("|", 2) + ["", ""])[:3]
            info = json.loads(store.get(f"episode:{episode.key}", now) or "{}")
            ended.append(
                {
                    "rule": rule,
                    "kind": kind,
                    "source": source,
                    "count": episode.count,
                    "started": _local(episode.started),
                    "last": _local(episode.last),
                    "viruses": tuple(info.get("viruses", ())),
                    "actions": tuple(info.get("actions", ())),
                    "quiet": duration_text(float(info.get("quiet_seconds", quiet))),
                }
            )
        return ended
    except (StateUnavailable, ValueError):
        return []


def _local(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")
