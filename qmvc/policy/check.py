"""Semantic checks: one small function per check, registered under its diagnostic code.

A new check is one function decorated with `@check`. `check_policy` runs them all and
returns every diagnostic, errors and warnings, in source order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from qmvc.paths import TEMPLATES_DIR
from qmvc.policy import ast
from qmvc.policy.bank_checks import BANK_CHECKS
from qmvc.policy.contradiction import always_true, is_negation, never_true
from qmvc.policy.diagnostics import Diagnostic, did_you_mean, error, warning
from qmvc.policy.domains import domain_problem
from qmvc.policy.languages import ISO_639_1
from qmvc.policy.model import PolicyModel, walk
from qmvc.policy.regex_hints import regex_hint
from qmvc.policy.shadow import shadowed_criteria
from qmvc.span import Span

Check = Callable[[PolicyModel], Iterable[Diagnostic]]
CHECKS: dict[str, Check] = {}

ATTACHMENT_FIELDS = {f for f in ast.TEXT_FIELDS | ast.SIZE_FIELDS if f.startswith("attachment.")}
NOTICE_AUDIENCES = {"recipient", "sender"}
KEEPS_THE_MESSAGE = {"keep", "forward", "deliver", "defer", "bounce"}
REGEX_FLAGS = set("imsx")


def check(code: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[code] = function
        return function

    return register


def check_policy(model: PolicyModel) -> list[Diagnostic]:
    found = [d for function in CHECKS.values() for d in function(model)]
    return sorted(found, key=lambda d: (d.span.file, d.span.line, d.span.column, d.code))


def _conditions(model: PolicyModel) -> Iterator[ast.Condition]:
    """Every node of every badmail rule's and every bypass's condition."""
    for _, criterion in model.criteria():
        yield from walk(criterion.condition)
    for profile in model.profiles.values():
        for bypass in profile.bypasses:
            yield from walk(bypass.condition)


def _list_refs(model: PolicyModel) -> Iterator[ast.ListRef]:
    """Every use of a list: by a text test, a network test or a network selector."""
    for node in _conditions(model):
        if isinstance(node, ast.TextTest) and isinstance(node.value, ast.ListRef):
            yield node.value
        elif isinstance(node, ast.NetworkTest) and node.list_ref is not None:
            yield node.list_ref
    for profile in model.profiles.values():
        yield from (s.list_ref for s in profile.selectors if s.list_ref is not None)


def _actions(model: PolicyModel) -> Iterator[ast.ActionDecl]:
    blocks = [*model.default_actions.values()]
    blocks += [b for p in model.profiles.values() for b in p.on_blocks]
    for block in blocks:
        yield from block.actions


# ---- names ----


@check("duplicate-name")
def duplicate_names(model: PolicyModel) -> Iterator[Diagnostic]:
    for kind, name, first, again in model.duplicates:
        what = f"'on {name}'" if kind == "on" else f"{kind} '{name}'"
        if kind.startswith(("notices ", "state", "verdict ")):
            what = f"'{kind}'"
        yield error(
            "duplicate-name",
            f"{what} is declared twice",
            again.span,
            f"the first is at {first.span}",
        )
    for profile in model.profiles.values():
        seen: dict[str, Span] = {}
        for criterion in profile.criteria:
            if criterion.name in seen:
                yield error(
                    "duplicate-name",
                    f"badmail rule '{criterion.name}' is declared twice in profile "
                    f"'{profile.name}'",
                    criterion.span,
                    f"the first is at {seen[criterion.name]}",
                )
            seen.setdefault(criterion.name, criterion.span)
        outcomes: dict[str, Span] = {}
        for block in profile.on_blocks:
            if block.outcome in outcomes:
                yield error(
                    "duplicate-name",
                    f"'on {block.outcome}' appears twice in profile '{profile.name}'",
                    block.span,
                    f"the first is at {outcomes[block.outcome]}",
                )
            outcomes.setdefault(block.outcome, block.span)


@check("undefined-list")
def undefined_lists(model: PolicyModel) -> Iterator[Diagnostic]:
    for ref in _list_refs(model):
        if ref.name not in model.lists:
            yield error(
                "undefined-list",
                f"list '{ref.name}' is not defined",
                ref.span,
                did_you_mean(ref.name, model.lists) or 'declare it with: list NAME = "..." ...',
            )


@check("undefined-scanner")
def undefined_scanners(model: PolicyModel) -> Iterator[Diagnostic]:
    for profile in model.profiles.values():
        for scan in profile.scans:
            for name, span in scan.engines:
                if name not in model.scanners:
                    yield error(
                        "undefined-scanner",
                        f"scanner '{name}' is not declared",
                        span,
                        did_you_mean(name, model.scanners)
                        or 'declare it with: scanner NAME clamd socket "..."',
                    )


@check("undefined-profile")
def undefined_profiles(model: PolicyModel) -> Iterator[Diagnostic]:
    for domain in model.domains:
        if domain.profile not in model.profiles:
            yield error(
                "undefined-profile",
                f"profile '{domain.profile}' is not defined",
                domain.profile_span,
                did_you_mean(domain.profile, model.profiles)
                or f"declare it with: profile {domain.profile} {{ ... }}",
            )


@check("undefined-guard")
def undefined_guards(model: PolicyModel) -> Iterator[Diagnostic]:
    for action in _actions(model):
        if action.kind != "notify":
            continue
        for target, span in zip(action.arguments, action.argument_spans, strict=True):
            if target not in model.guards and target not in NOTICE_AUDIENCES:
                yield error(
                    "undefined-guard",
                    f"'{target}' is neither a guard nor recipient/sender",
                    span,
                    did_you_mean(target, [*model.guards, *NOTICE_AUDIENCES])
                    or f'declare it with: guard {target} "address@example.org"',
                )


@check("undefined-template")
def undefined_templates(model: PolicyModel) -> Iterator[Diagnostic]:
    setting = model.settings.get("templates")
    if setting and not template_directory(setting).is_dir():
        choices = (
            [p.name for p in TEMPLATES_DIR.iterdir() if p.is_dir()]
            if TEMPLATES_DIR.is_dir()
            else []
        )
        yield error(
            "undefined-template",
            f"template set '{setting.value}' does not exist",
            setting.span,
            did_you_mean(setting.value, choices)
            or f"give a directory, or one of the shipped sets under {TEMPLATES_DIR}",
        )


def template_directory(setting: ast.Setting) -> Path:
    """`templates "DIR"`: relative to the policy file, else a shipped set under templates/."""
    beside = Path(setting.span.file).parent / setting.value
    return beside if beside.is_dir() else TEMPLATES_DIR / setting.value


def templates_of(model: PolicyModel) -> Path:
    setting = model.settings.get("templates")
    return template_directory(setting) if setting else TEMPLATES_DIR


def shown_templates(directory: Path) -> str:
    """How a diagnostic names a template set: the shipped one without this machine's path."""
    return "the shipped templates/" if directory == TEMPLATES_DIR else f"{directory}/"


def reached_notices(model: PolicyModel) -> dict[tuple[str, str], list[Span]]:
    """(template, language) → where a language asks for it, for every notice the policy
    can send: guards in their own language, recipient and sender in any suffix language."""
    default = next((lang for lang in model.languages if lang.is_default), None)
    default_code = default.code if default else "en"
    default_span = default.span if default else Span(model.main_file, 1, 1, 1, 2)
    suffix_languages = [(lang.code, lang.span) for lang in model.languages if not lang.is_default]
    reached: dict[tuple[str, str], list[Span]] = {}
    for profile in model.profiles.values():
        for outcome in ("virus", "badmail", "failure", "too-large"):
            block = model.actions_for(profile, outcome)
            for action in block.actions if block else ():
                if action.kind != "notify":
                    continue
                for target in action.arguments:
                    if target in NOTICE_AUDIENCES:
                        pairs = [(target, default_code, default_span)] + [
                            (target, code, span) for code, span in suffix_languages
                        ]
                    elif target in model.guards:
                        guard = model.guards[target]
                        template = "badmail_guard" if outcome == "badmail" else "av_guard"
                        pairs = [
                            (template, guard.language, guard.language_span or guard.span)
                            if guard.language
                            else (template, default_code, default_span)
                        ]
                    else:
                        continue
                    for template, code, span in pairs:
                        reached.setdefault((template, code), []).append(span)
    return reached


@check("missing-template-language")
def missing_template_languages(model: PolicyModel) -> Iterator[Diagnostic]:
    """A language the policy uses without templates: those notices are sent in English."""
    directory = templates_of(model)
    if not directory.is_dir():
        return  # undefined-template says so
    missing: dict[tuple[str, Span], list[str]] = {}
    for (template, language), spans in reached_notices(model).items():
        if language not in ISO_639_1:
            continue  # unknown-language says so
        if not (directory / language / f"{template}.j2").is_file():
            for span in dict.fromkeys(spans):
                missing.setdefault((language, span), []).append(template)
    for (language, span), templates in sorted(missing.items(), key=lambda item: item[0][1]):
        names = ", ".join(f"{language}/{t}.j2" for t in sorted(templates))
        if language == "en":
            yield error(
                "missing-template-language",
                f"{shown_templates(directory)} has no {names}: English is every notice's fallback",
                span,
                "copy the shipped templates/en/ into this template set",
            )
        else:
            yield warning(
                "missing-template-language",
                f"no template {names} in {shown_templates(directory)}: these notices are sent "
                "in English",
                span,
                f"add {language}/ beside en/ there (copy en/, translate it), or drop the language",
            )


@check("bad-address")
def notice_addresses(model: PolicyModel) -> Iterator[Diagnostic]:
    from qmvc.actions.mailbox import parse_mailbox

    hint = 'write "name@example.org" or "Name <name@example.org>"'
    written = [
        (f"guard '{guard.name}'", address, guard.span)
        for guard in model.guards.values()
        for address in guard.addresses
    ] + [("notices from", n.address, n.span) for n in model.notices_from.values()]
    for who, address, span in written:
        try:
            parse_mailbox(address)
        except ValueError as problem:
            yield error("bad-address", f"{who}: {problem}", span, hint)


@check("invalid-notices-limit")
def invalid_notices_limits(model: PolicyModel) -> Iterator[Diagnostic]:
    from qmvc.state.base import RETENTION_SECONDS as MAX_WINDOW_SECONDS

    for limit in model.notices_limit.values():
        if limit.count < 1 or not 0 < limit.window_seconds <= MAX_WINDOW_SECONDS:
            yield error(
                "invalid-notices-limit",
                "notices limit needs a count of at least 1 and a window up to 7 days",
                limit.span,
                "for example: notices limit 30 per 1h",
            )


# ---- values ----


@check("invalid-regex")
def invalid_regexes(model: PolicyModel) -> Iterator[Diagnostic]:
    regexes = [
        n.value
        for n in _conditions(model)
        if isinstance(n, ast.TextTest) and isinstance(n.value, ast.Regex)
    ]
    regexes += [p for lst in model.lists.values() for p in lst.patterns if isinstance(p, ast.Regex)]
    regexes += [
        s.virus_pattern for s in model.scanners.values() if isinstance(s.virus_pattern, ast.Regex)
    ]
    for regex in regexes:
        yield from _regex_problems(regex)
    for scanner in model.scanners.values():
        if isinstance(scanner.virus_pattern, ast.Text):
            yield from _regex_problems(
                ast.Regex(scanner.virus_pattern.text, "", scanner.virus_pattern.span)
            )


def _regex_problems(regex: ast.Regex) -> Iterator[Diagnostic]:
    bad_flags = set(regex.flags) - REGEX_FLAGS
    if bad_flags:
        yield error(
            "invalid-regex",
            f"unknown regex flag '{''.join(sorted(bad_flags))}'",
            regex.span,
            "flags are i (ignore case), m, s and x",
        )
    flags = "".join(f for f in regex.flags if f in REGEX_FLAGS)
    # alone, for the clearest position; then as the compiler writes it: a group among a
    # list's alternatives, with the flags scoped to it (where `(?i)` is no longer first)
    opening = f"(?:(?{flags}:" if flags else "(?:"
    closing = ")" * opening.count("(")
    for source, offset in ((regex.pattern, 0), (opening + regex.pattern + closing, len(opening))):
        problem = _compile_error(source)
        if problem is not None:
            message, at = problem
            position = None if at is None else min(max(at - offset, 0), len(regex.pattern))
            hint = regex_hint(message, regex.pattern, position)
            column = regex.span.column + 1 + (position or 0)  # past the opening slash or quote
            yield error(
                "invalid-regex",
                f"invalid regular expression: {message}",
                Span(regex.span.file, regex.span.line, column, regex.span.line, column + 1),
                hint,
            )
            return


def _compile_error(source: str) -> tuple[str, int | None] | None:
    """What `re` says about `source`, and where; None when it compiles."""
    try:
        re.compile(source)
    except re.error as exc:
        return exc.msg, exc.pos
    except OverflowError as exc:  # a repeat count past re's limit is no re.error
        huge_count = re.search(r"\{\d{10,}", source)
        return str(exc), huge_count.start() if huge_count else None
    return None


@check("unknown-field")
def unknown_fields(model: PolicyModel) -> Iterator[Diagnostic]:
    for node in _conditions(model):
        field = getattr(node, "field", None)
        if field is not None and field.name not in ast.TEXT_FIELDS | ast.SIZE_FIELDS:
            yield error(
                "unknown-field",
                f"'{field.name}' is not something a rule can test",
                field.span,
                did_you_mean(field.name, ATTACHMENT_FIELDS)
                or "attachments have name, type, declared_type and size",
            )


@check("wrong-operator")
def wrong_operators(model: PolicyModel) -> Iterator[Diagnostic]:
    for node in _conditions(model):
        if isinstance(node, ast.TextTest) and node.field.name in ast.SIZE_FIELDS:
            yield error(
                "wrong-operator",
                f"{node.field.name} is a number: '{node.operator}' does not apply",
                node.span,
                f"compare it: {node.field.name} > 10MB",
            )
        elif isinstance(node, ast.SizeTest) and node.field.name in ast.TEXT_FIELDS:
            yield error(
                "wrong-operator",
                f"{node.field.name} is text: it cannot be compared with {node.comparator}",
                node.span,
                "use is, contains or matches",
            )
        elif isinstance(node, ast.NetworkTest) and node.field.name not in ast.NETWORK_FIELDS:
            yield error(
                "wrong-operator",
                f"{node.field.name} is not an address: 'in' networks does not apply",
                node.span,
                "only client.ip is tested against networks: client.ip in 10.0.0.0/8",
            )
        elif (
            isinstance(node, ast.EmptyTest)
            and node.field.name in ATTACHMENT_FIELDS | ast.SIZE_FIELDS
        ):
            yield error(
                "wrong-operator",
                f"'{node.field.name} is empty' is not a test qmvc knows",
                node.span,
                "to test for attachments, write: any attachment",
            )


@check("unknown-language")
def unknown_languages(model: PolicyModel) -> Iterator[Diagnostic]:
    used = [(language.code, language.span) for language in model.languages] + [
        (guard.language, guard.language_span or guard.span)
        for guard in model.guards.values()
        if guard.language
    ]
    for code, span in used:
        if code not in ISO_639_1:
            yield error(
                "unknown-language",
                f"'{code}' is not an ISO 639-1 language code",
                span,
                did_you_mean(code, ISO_639_1) or "use two letters, such as de, fr, en",
            )


@check("domain-conflict")
def domain_conflicts(model: PolicyModel) -> Iterator[Diagnostic]:
    mapped: dict[str, tuple[str, Span]] = {}
    for domain in model.domains:
        for pattern, span in domain.patterns:
            if pattern in mapped and mapped[pattern][0] != domain.profile:
                first_profile, first_span = mapped[pattern]
                yield error(
                    "domain-conflict",
                    f"domain '{pattern}' is mapped to '{first_profile}' and to '{domain.profile}'",
                    span,
                    f"the first mapping is at {first_span}",
                )
            mapped.setdefault(pattern, (domain.profile, span))


@check("bad-domain")
def bad_domains(model: PolicyModel) -> Iterator[Diagnostic]:
    for domain in model.domains:
        for pattern, span in domain.patterns:
            problem = domain_problem(pattern)
            if problem is not None:
                yield error("bad-domain", problem.message, span, problem.hint)


@check("invalid-setting")
def invalid_settings(model: PolicyModel) -> Iterator[Diagnostic]:
    budget = model.settings.get("budget")
    if budget and not re.fullmatch(r"\d+(\.\d+)?(ms|s|m|h)", budget.value):
        yield error(
            "invalid-setting", "budget must be a duration", budget.span, "for example: budget 120s"
        )
    for key in ("templates", "injector", "hostname", "virtualdomains"):
        setting = model.settings.get(key)
        if setting and not re.fullmatch(r"[^\x00-\x1f]+", setting.value):
            yield error("invalid-setting", f"{key} needs a non-empty quoted value", setting.span)


# ---- scanners ----


@check("scanner-config")
def scanner_configs(model: PolicyModel) -> Iterator[Diagnostic]:
    from qmvc.scanners.catalogue import CATALOGUE

    for scanner in model.scanners.values():
        if scanner.kind == "clamd":
            if not scanner.addresses:
                yield error(
                    "scanner-config",
                    f"clamd scanner '{scanner.name}' has no address",
                    scanner.span,
                    'add: socket "/run/clamav/clamd.ctl" or tcp "host:3310"',
                )
            for address in scanner.addresses:
                if address.kind == "tcp" and not re.fullmatch(r"[^:\s]+:\d{1,5}", address.target):
                    yield error(
                        "scanner-config",
                        f"'{address.target}' is not host:port",
                        address.span,
                        'for example: tcp "127.0.0.1:3310"',
                    )
            continue
        if scanner.engine and scanner.engine not in CATALOGUE:
            yield error(
                "unknown-engine",
                f"'{scanner.engine}' is not in the scanner catalogue",
                scanner.engine_span or scanner.span,
                did_you_mean(scanner.engine, CATALOGUE)
                or f"known engines: {', '.join(sorted(CATALOGUE))}; or spell it out with run",
            )
        elif not scanner.engine and not scanner.run:
            yield error(
                "scanner-config",
                f"command scanner '{scanner.name}' says neither engine nor run",
                scanner.span,
                'add: engine clamscan, or run "cmd {dir}"',
            )
        elif scanner.run and not scanner.engine and not scanner.infected_codes:
            yield error(
                "scanner-config",
                f"command scanner '{scanner.name}' does not say which exit codes mean infected",
                scanner.span,
                "add: clean 0 infected 1",
            )


@check("timeout-budget")
def timeout_budget(model: PolicyModel) -> Iterator[Diagnostic]:
    from qmvc.policy.parse import parse_duration

    budget = model.settings.get("budget")
    if not budget or not re.fullmatch(r"\d+(\.\d+)?(ms|s|m|h)", budget.value):
        return
    limit = parse_duration(budget.value)
    for profile in model.profiles.values():
        for scan in profile.scans:
            total = sum(
                scanner_timeout(model.scanners[n]) for n, _ in scan.engines if n in model.scanners
            )
            if scan.mode != "parallel" and total > limit:
                yield warning(
                    "timeout-budget",
                    f"these engines may take {total:g}s together, over "
                    f"the policy's budget of {limit:g}s",
                    scan.span,
                    "lower their timeouts, raise the budget, or scan in parallel",
                )


def scanner_timeout(scanner: ast.ScannerDecl) -> float:
    """The base timeout a scanner declares, or the default the compiler gives it."""
    return scanner.timeout.seconds if scanner.timeout else DEFAULT_SCANNER_TIMEOUT


DEFAULT_SCANNER_TIMEOUT = 60.0


# ---- profiles and actions ----


@check("default-profile")
def default_profile(model: PolicyModel) -> Iterator[Diagnostic]:
    defaults = [p for p in model.profiles.values() if p.is_default]
    if not model.profiles:
        first = next((s for s in model.languages), None)
        span = first.span if first else Span(model.main_file, 1, 1, 1, 2)
        yield error(
            "no-profile",
            "the policy declares no profile",
            span,
            "add: profile standard default { ... }",
        )
    elif len(defaults) > 1:
        yield error(
            "several-defaults",
            "more than one profile is marked default",
            defaults[1].span,
            f"'{defaults[0].name}' is already the default",
        )
    elif not defaults and len(model.profiles) > 1:
        profile = next(iter(model.profiles.values()))
        yield error(
            "no-default-profile",
            "several profiles and none is the default",
            profile.span,
            f"mark one: profile {profile.name} default {{ ... }}",
        )


@check("missing-action")
def missing_actions(model: PolicyModel) -> Iterator[Diagnostic]:
    for profile in model.profiles.values():
        if profile.criteria and not model.actions_for(profile, "badmail"):
            yield error(
                "missing-action",
                f"profile '{profile.name}' has badmail rules but no 'on badmail' block",
                profile.span,
                'add: on badmail { keep "quarantine/badmail" }',
            )
        if profile.scans and not model.actions_for(profile, "virus"):
            yield error(
                "missing-action",
                f"profile '{profile.name}' scans but has no 'on virus' block",
                profile.span,
                'add: on virus { keep "quarantine/virus" }',
            )


@check("message-lost")
def message_lost(model: PolicyModel) -> Iterator[Diagnostic]:
    blocks = [
        *model.default_actions.values(),
        *(b for p in model.profiles.values() for b in p.on_blocks),
    ]
    for block in blocks:
        kinds = {a.kind for a in block.actions}
        if not kinds & KEEPS_THE_MESSAGE:
            yield error(
                "message-lost",
                f"'on {block.outcome}' neither keeps, forwards, delivers, "
                "defers nor bounces the message: it would be lost",
                block.span,
                'add deliver, keep "DIR", forward "ADDRESS", defer or bounce',
            )
        if "defer" in kinds and len(kinds & KEEPS_THE_MESSAGE) > 1:
            yield error(
                "conflicting-actions",
                f"'on {block.outcome}' defers and also acts on the message",
                block.span,
                "a deferred message is retried later: drop the other actions",
            )
        if "bounce" in kinds and "deliver" in kinds:
            yield error(
                "conflicting-actions",
                f"'on {block.outcome}' both bounces and delivers",
                block.span,
                "choose one",
            )


# ---- warnings ----


@check("shadowed-rule")
def shadowed_rules(model: PolicyModel) -> Iterator[Diagnostic]:
    for profile in model.profiles.values():
        for shadowed, by in shadowed_criteria(profile.criteria, model.lists):
            yield warning(
                "shadowed-rule",
                f"badmail rule '{shadowed.name}' can never decide: "
                f"'{by.name}' matches whenever it does and is tested first",
                shadowed.span,
                f"remove it, or narrow '{by.name}' ({by.span})",
            )


@check("never-true")
def never_true_rules(model: PolicyModel) -> Iterator[Diagnostic]:
    for _, criterion in model.criteria():
        clash = never_true(criterion.condition, model.lists)
        if clash is not None:
            parts = (
                "a test and its negation"
                if is_negation(*clash)
                else "two tests that exclude each other"
            )
            yield warning(
                "never-true",
                f"badmail rule '{criterion.name}' is never true: it needs {parts} "
                f"({_where(clash, criterion.span)})",
                criterion.span,
                "this rule can never match: remove it, or fix its condition",
            )


@check("always-true")
def always_true_rules(model: PolicyModel) -> Iterator[Diagnostic]:
    for _, criterion in model.criteria():
        clash = always_true(criterion.condition, model.lists)
        if clash is not None:
            parts = "a test or its negation" if is_negation(*clash) else "one of two tests"
            yield warning(
                "always-true",
                f"badmail rule '{criterion.name}' is always true: {parts} always holds "
                f"({_where(clash, criterion.span)})",
                criterion.span,
                "this rule matches every message and makes all mail badmail: fix its condition",
            )


def _where(parts: tuple[ast.Condition, ast.Condition], within: Span) -> str:
    """Where two parts of a rule are: columns on the rule's line, else line:column."""
    first, second = (part.span for part in parts)
    if first.line == second.line == within.line:
        return f"columns {first.column} and {second.column}"
    return f"{first.line}:{first.column} and {second.line}:{second.column}"


@check("unused-scanner")
def unused_scanners(model: PolicyModel) -> Iterator[Diagnostic]:
    used = {name for p in model.profiles.values() for s in p.scans for name, _ in s.engines}
    for scanner in model.scanners.values():
        if scanner.name not in used:
            yield warning(
                "unused-scanner",
                f"scanner '{scanner.name}' is never used",
                scanner.span,
                f"add it to a profile: scan {scanner.name}",
            )


@check("unused-profile")
def unused_profiles(model: PolicyModel) -> Iterator[Diagnostic]:
    used = {d.profile for d in model.domains}
    default = model.default_profile()
    for profile in model.profiles.values():
        if profile.name not in used and profile is not default and not profile.selectors:
            yield warning(
                "unused-profile",
                f"profile '{profile.name}' is used by no domain",
                profile.span,
                f'map a domain to it: domain "example.org" uses {profile.name}',
            )


@check("unused-list")
def unused_lists(model: PolicyModel) -> Iterator[Diagnostic]:
    used = {ref.name for ref in _list_refs(model)}
    for declared in model.lists.values():
        if declared.name not in used:
            yield warning(
                "unused-list",
                f"list '{declared.name}' is never used",
                declared.span,
                f"use it in a rule (... matches list {declared.name}) or remove it",
            )


@check("sender-notice")
def sender_notices(model: PolicyModel) -> Iterator[Diagnostic]:
    """Senders of viruses are forged nearly always; of badmail, often (fake bounces)."""
    for profile in model.profiles.values():
        guards_null_sender = any(
            isinstance(n, ast.EmptyTest) and n.field.name == "sender"
            for c in profile.criteria
            for n in walk(c.condition)
        )
        for outcome in ("virus", "badmail"):
            if outcome == "badmail" and guards_null_sender:
                continue
            block = model.actions_for(profile, outcome)
            for action in block.actions if block else ():
                if action.kind == "notify" and "sender" in action.arguments:
                    yield warning(
                        "sender-notice",
                        f"profile '{profile.name}' tells the sender of {outcome} mail: its "
                        "sender is usually forged, so the notice goes to someone who never "
                        "sent it (backscatter, and this host gets blocklisted)",
                        action.span,
                        "notify the recipient and the guards instead"
                        + (
                            ""
                            if outcome == "virus"
                            else "; or keep it and add: badmail nullsender when sender is empty"
                        ),
                    )


# ---- virus bombers ----

BOMBER_ACTIONS = {"keep", "forward", "drop", "defer"}


@check("bomber-rule")
def bomber_rules(model: PolicyModel) -> Iterator[Diagnostic]:
    """A rate is counted from a sender, domain or client, or to a recipient; a bomber rule
    says what becomes of each message: keep, forward, drop or defer (nothing else)."""
    for profile in model.profiles.values():
        for bomber in profile.bombers:
            for test in bomber.tests:
                if (test.way == "to") != (test.source == "recipient"):
                    right = (
                        "to same recipient"
                        if test.source == "recipient"
                        else (f"from same {test.source}")
                    )
                    yield error(
                        "bomber-rule",
                        f"'{test.way} same {test.source}' cannot be counted",
                        test.span,
                        f"write: {test.kind} {right} > {test.threshold} per ...",
                    )
                if test.threshold < 1:
                    yield error("bomber-rule", "a rate threshold must be at least 1", test.span)
            kinds = [action.kind for action in bomber.actions]
            for action in bomber.actions:
                if action.kind not in BOMBER_ACTIONS:
                    yield error(
                        "bomber-rule",
                        f"'{action.kind}' is not a bomber action",
                        action.span,
                        "a bomber rule keeps, forwards, drops or defers each message",
                    )
            if not set(kinds) & BOMBER_ACTIONS:
                yield error(
                    "bomber-rule",
                    f"bomber '{bomber.name}' does not say what becomes of each message",
                    bomber.span,
                    'add keep "quarantine/bombs", drop or defer',
                )


@check("invalid-state")
def invalid_state(model: PolicyModel) -> Iterator[Diagnostic]:
    for state in model.state.values():
        if state.kind == "redis" and not re.match(r"(rediss?|unix)://", state.target):
            yield error(
                "invalid-state",
                "state redis needs the server's URL",
                state.span,
                'for example: state redis "redis://127.0.0.1:6379/0"',
            )


CHECKS.update(BANK_CHECKS)
