"""The classic command-line engines, as data: a policy names one instead of spelling it out.

Each entry says how to run the engine over a directory (`{dir}`), which exit codes mean
clean and infected (every other code is a failure), how to pull the virus name out of
an output line, and how to update its signatures. Sources: the vendors' manual pages
where we have them, and the long-lived integrations that ran these engines for years
(amavisd-new's `@av_scanners`, MailScanner's `SweepViruses.pm`). Only ClamAV's entries
are exercised against the real program in the tests; the commercial ones are tested
with look-alike programs that follow the behaviour written down here, and a site
whose engine version differs overrides argv in its policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from qmvc.scanners.spec import CommandSpec, Timeout


@dataclass(frozen=True, slots=True)
class EngineTemplate:
    """A CommandSpec without the parts the policy supplies (its name and timeout)."""

    argv: tuple[str, ...]
    clean_codes: frozenset[int]
    infected_codes: frozenset[int]
    virus_pattern: str
    update_command: tuple[str, ...] = ()


def _sophos(program: str) -> EngineTemplate:
    """savscan and its predecessor sweep share options, exit codes and output."""
    return EngineTemplate(
        argv=(program, "-ss", "-f", "-all", "-rec", "-archive", "-mime", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({3}),
        virus_pattern=r">>> Virus (?:fragment )?'(?P<name>[^']+)' found",
        update_command=("savupdate",),
    )


CATALOGUE: dict[str, EngineTemplate] = {
    # ClamAV clamscan(1): exit 0 no virus, 1 virus found, 2 some error. With --infected
    # --no-summary only hits are printed, as "PATH: NAME FOUND". It loads the whole
    # database on every run, hence slow; a policy adds `-d DBDIR` to choose the database.
    "clamscan": EngineTemplate(
        argv=("clamscan", "--no-summary", "--infected", "--stdout", "-r", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({1}),
        virus_pattern=r": (?P<name>\S+) FOUND$",
        update_command=("freshclam",),
    ),
    # ClamAV clamdscan(1): same codes and output as clamscan, but hands the files to a
    # running clamd. --stream sends the contents, so clamd needs no access to our 0700
    # directory and may run on another host.
    "clamdscan": EngineTemplate(
        argv=("clamdscan", "--no-summary", "--infected", "--stdout", "--stream", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({1}),
        virus_pattern=r": (?P<name>\S+) FOUND$",
        update_command=("freshclam",),
    ),
    # Sophos Anti-Virus for Linux savscan(1): exit 0 no virus, 1 interrupted, 2 error,
    # 3 virus found. Hits read ">>> Virus 'EICAR-AV-Test' found in file PATH". Options as
    # MailScanner ran it: -ss quiet, -f full scan, -all all files, -rec recurse, -archive
    # and -mime to look inside containers. Updates come from Sophos's savupdate.
    "savscan": _sophos("savscan"),
    # Sophos Sweep, savscan's predecessor: same options, exit codes and output lines.
    "sweep": _sophos("sweep"),
    # McAfee VirusScan command line uvscan: exit 0 no virus, 13 virus found; 2, 6, 8, 15
    # and others are errors (DAT integrity, general problem, no DAT, self-check).
    # Hits read "PATH ... Found: EICAR test file NOT a virus." or "PATH ... Found the
    # W32/Foo virus !!!". No updater ships with it: sites run a DAT download script,
    # which the policy names.
    "uvscan": EngineTemplate(
        argv=("uvscan", "--secure", "--recursive", "--mime", "--noboot", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({13}),
        virus_pattern=(
            r"Found(?::| the| virus or variant| trojan or variant)? "
            r"(?P<name>.+?)(?: virus| trojan| NOT a virus)?(?: !+|\.)?$"
        ),
    ),
    # F-Secure fsav(1): exit 0 no virus, 3 virus found, 6 virus removed, 8 suspicious
    # file; 1, 7 and 9 are errors. Hits read "PATH: Infected: EICAR_Test_File [Engine]".
    # Signatures are updated by F-Secure's dbupdate.
    "fsav": EngineTemplate(
        argv=("fsav", "--dumb", "--archive", "--mime", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({3, 6, 8}),
        virus_pattern=r"(?:Infected|Suspected|Riskware): (?P<name>.+?)(?: \[[^\]]*\])?$",
        update_command=("dbupdate",),
    ),
    # Trend Micro vscan: the exit code is the number of infected files found, so 1-99
    # are taken as infected (an assumption from amavisd-new's entry; no manual at hand);
    # hits read "*** Found virus NAME in file PATH". -a all files, -za scan archives.
    # Pattern updates are a site script, which the policy names.
    "vscan": EngineTemplate(
        argv=("vscan", "-a", "-za", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset(range(1, 100)),
        virus_pattern=r"Found virus (?P<name>\S+) in file",
    ),
    # CA InoculateIT / eTrust inocucmd: exit 0 clean, 100 virus found; hits read
    # "File PATH was infected by virus NAME" (both as amavisd-new configures it).
    # -sec scans subdirectories, -nex does not restrict by extension. Its README ships
    # an update_signature script that fetches virsig.dat.
    "inocucmd": EngineTemplate(
        argv=("inocucmd", "-sec", "-nex", "{dir}"),
        clean_codes=frozenset({0}),
        infected_codes=frozenset({100}),
        virus_pattern=r"was infected by virus (?P<name>.+?)\s*$",
        update_command=("update_signature",),
    ),
}

ENGINE_NAMES: tuple[str, ...] = tuple(CATALOGUE)
"""What the policy checker offers for "unknown engine, did you mean …"."""


def catalogue_spec(
    engine: str,
    name: str,
    timeout: Timeout,
    argv_override: tuple[str, ...] | None = None,
) -> CommandSpec:
    """The CommandSpec for a catalogued engine; raises KeyError for an unknown engine."""
    template = CATALOGUE[engine]
    return CommandSpec(
        name=name,
        argv=argv_override or template.argv,
        clean_codes=template.clean_codes,
        infected_codes=template.infected_codes,
        virus_pattern=template.virus_pattern,
        timeout=timeout,
        update_command=template.update_command,
    )
