#!/usr/bin/env bash
# Real DICOM peers for the tests and benchmarks: Orthanc (a PACS) and dcmtk (clients, storescp,
# dcmqrscp). Usage: scripts/services/dicom.sh install
#   install   apt-get install orthanc and dcmtk, only when missing (nothing is started: the
#             pytest fixtures in tests/dicom/conftest.py start each peer on free loopback ports
#             with its own configuration and storage folder, and stop it afterwards).
#   check     exit 1 (with a message) when a peer is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing() {
  local need=()
  command -v Orthanc >/dev/null 2>&1 || need+=(orthanc)
  for tool in echoscu storescu findscu movescu getscu storescp dcmqrscp; do
    command -v "$tool" >/dev/null 2>&1 || { need+=(dcmtk); break; }
  done
  echo "${need[@]:-}"
}

case "${1:-check}" in
  install)
    need=$(missing)
    if [ -n "$need" ]; then
      echo "installing DICOM peers: $need"
      apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
      # shellcheck disable=SC2086
      apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $need >/dev/null
      # Debian's package starts nothing without systemd; make sure no packaged daemon lingers
      # on the default ports (4242/8042), which the tests never use.
    fi
    ;;
  check)
    need=$(missing)
    if [ -n "$need" ]; then
      echo "missing DICOM peers: $need (run: bash scripts/services/dicom.sh install)" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
