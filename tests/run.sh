#!/usr/bin/env bash
# The one test command: installs what the tests need on a fresh Debian machine, then runs pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -k maildir`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
{ command -v clamd || [ -x /usr/sbin/clamd ]; } >/dev/null 2>&1 || need_apt+=(clamav-daemon)
command -v clamscan >/dev/null 2>&1 || need_apt+=(clamav)
[ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || need_apt+=(libmagic1)
ldconfig -p 2>/dev/null | grep -q libarchive.so.13 || need_apt+=(libarchive13)
command -v ripmime >/dev/null 2>&1 || need_apt+=(ripmime)
command -v 7z >/dev/null 2>&1 || need_apt+=(p7zip-full)
command -v zip >/dev/null 2>&1 || need_apt+=(zip)
command -v genisoimage >/dev/null 2>&1 || need_apt+=(genisoimage)
command -v gcab >/dev/null 2>&1 || need_apt+=(gcab)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# tests/test_install.py builds a venv with the system python3, which needs ensurepip
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
