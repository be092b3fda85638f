"""The engine catalogue is usable data, and the factory builds the right engine."""

from __future__ import annotations

import re

import pytest

from qmvc.scanners.catalogue import CATALOGUE, ENGINE_NAMES, catalogue_spec
from qmvc.scanners.clamd import ClamdScanner
from qmvc.scanners.command import CommandScanner
from qmvc.scanners.factory import build_scanner
from qmvc.scanners.spec import ClamdAddress, ClamdSpec, Timeout

ISSUE_ENGINES = {"clamscan", "clamdscan", "savscan", "sweep", "uvscan", "fsav", "vscan", "inocucmd"}


def test_catalogue_has_the_classic_engines() -> None:
    assert set(ENGINE_NAMES) == ISSUE_ENGINES


@pytest.mark.parametrize("engine", sorted(ISSUE_ENGINES))
def test_entry_is_well_formed(engine: str) -> None:
    template = CATALOGUE[engine]
    assert "{dir}" in template.argv
    assert template.clean_codes and template.infected_codes
    assert not template.clean_codes & template.infected_codes
    pattern = re.compile(template.virus_pattern)
    assert "name" in pattern.groupindex


@pytest.mark.parametrize(
    ("engine", "line", "name"),
    [
        ("clamscan", "/tmp/d/eicar.com: Eicar-Test-Signature FOUND", "Eicar-Test-Signature"),
        ("savscan", ">>> Virus 'EICAR-AV-Test' found in file /tmp/d/x", "EICAR-AV-Test"),
        ("sweep", ">>> Virus fragment 'W32/Frag' found in file /x", "W32/Frag"),
        ("uvscan", "/tmp/d/x ... Found: EICAR test file NOT a virus.", "EICAR test file"),
        ("uvscan", "/tmp/d/x ... Found the W32/Netsky.p@MM virus !!!", "W32/Netsky.p@MM"),
        ("fsav", "/tmp/d/x: Infected: EICAR_Test_File [Aquarius]", "EICAR_Test_File"),
        ("vscan", "*** Found virus PE_FUNLOVE.4099 in file /tmp/d/x", "PE_FUNLOVE.4099"),
        ("inocucmd", "File /tmp/d/x was infected by virus EICAR test", "EICAR test"),
    ],
)
def test_virus_pattern_extracts_name(engine: str, line: str, name: str) -> None:
    match = re.search(CATALOGUE[engine].virus_pattern, line)
    assert match is not None and match.group("name") == name


def test_catalogue_spec_fills_name_timeout_and_override() -> None:
    argv = ("clamscan", "-d", "/db", "{dir}")
    spec = catalogue_spec("clamscan", "clam-local", Timeout(30, 10), argv_override=argv)
    assert (spec.name, spec.argv, spec.timeout) == ("clam-local", argv, Timeout(30, 10))
    assert spec.infected_codes == frozenset({1})
    assert spec.update_command == ("freshclam",)


def test_unknown_engine_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        catalogue_spec("savscna", "x", Timeout(1))


def test_factory_builds_each_kind() -> None:
    clamd = ClamdSpec("clamd", (ClamdAddress(socket_path="/run/clamav/clamd.ctl"),), Timeout(30))
    assert isinstance(build_scanner(clamd), ClamdScanner)
    command = catalogue_spec("savscan", "sophos", Timeout(30))
    built = build_scanner(command)
    assert isinstance(built, CommandScanner) and built.name == "sophos"
