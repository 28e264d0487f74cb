#!/usr/bin/env bash
# Mounts a 512 KiB tmpfs and runs full_disk_check on it. Exit 77 (skipped) when mounting is not
# allowed (not root, or no CAP_SYS_ADMIN).
# Usage: full_disk.sh PROGRAM BACKEND NP [mpiexec args...]
set -euo pipefail
prog=$1 backend=$2 np=$3
shift 3
mnt=$(mktemp -d)
if ! mount -t tmpfs -o size=512k tmpfs "$mnt" 2>/dev/null; then
  rmdir "$mnt"
  echo "SKIP: cannot mount a small tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$mnt"; rmdir "$mnt"' EXIT
mpiexec "$@" -n "$np" "$prog" "$mnt" "$backend"
