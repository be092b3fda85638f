"""Imported at start-up by the Python children of a test during mutmut's "stats" pass only.

tests/mutation/bridge.py puts this folder on the child's PYTHONPATH and names a file in
QMVC_MUTMUT_HITS; each mutated function the child reaches is appended to it once, one name a
line, for the test that started the child. Outside that pass this folder is on no path.
"""

import os

_HITS = os.environ.get("QMVC_MUTMUT_HITS")

if _HITS and os.environ.get("MUTANT_UNDER_TEST") == "stats":
    try:
        import mutmut.mutation.trampoline as _trampoline
    except ImportError:
        pass
    else:
        _seen: set[str] = set()

        def _record(name: str, caller: str | None = None) -> None:
            if name in _seen:
                return
            _seen.add(name)
            fd = os.open(_HITS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (name + "\n").encode())
            finally:
                os.close(fd)

        _trampoline.record_trampoline_hit = _record
