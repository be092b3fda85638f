#!/usr/bin/env bash
# qmvc's main job on the shipped default policy and a sample message, on a fresh machine:
# install, check the policy, explain the sample, then deliver it as qmail-local would.
set -euo pipefail
cd "$(dirname "$0")/.."

ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmagic1 >/dev/null
}
python3 -m pip install -q --disable-pip-version-check -e .

policy=policies/default.qmvc
sample=tests/corpus/sample-exe-attachment.eml
demo_dir=$(mktemp -d)

echo "== qmvc check-policy $policy"
qmvc check-policy "$policy"

echo; echo "== qmvc explain --policy $policy $sample"
qmvc explain --policy "$policy" "$sample"

echo; echo "== qmvc deliver < $sample   (as qmail-local runs it; QMVC_DIR=$demo_dir)"
set +e
env QMVC_DIR="$demo_dir" QMVC_POLICY="$policy" \
    SENDER="billing@example-supplies.test" RECIPIENT="bob@example.com" \
    HOST="example.com" LOCAL="bob" \
    DTLINE=$'Delivered-To: bob@example.com\n' RPLINE=$'Return-Path: <billing@example-supplies.test>\n' \
    qmvc deliver < "$sample"
code=$?
set -e
echo "exit code: $code (0 deliver, 99 handled, 111 defer)"
command -v /var/qmail/bin/qmail-inject >/dev/null ||
  echo "(no qmail here, so the guard's notice could not be sent: it is reported, and the message is kept all the same)"
echo "qmvc.log:"; cat "$demo_dir/qmvc.log"
echo "quarantine:"; find "$demo_dir/quarantine" -type f 2>/dev/null || true
