#!/usr/bin/env bash
# Mounts a 512 KiB tmpfs and runs the full-disk test of an async test binary on it (the directory
# is passed in CAIRN_TEST_FULL_DISK_DIR, which the ranks inherit). Exit 77 (skipped) when mounting
# is not allowed (not root, or no CAP_SYS_ADMIN).
# Usage: async_full_disk.sh PROGRAM NP [mpiexec args...]
set -uo pipefail
prog=$1 np=$2
shift 2
mnt=$(mktemp -d)
if ! mount -t tmpfs -o size=512k tmpfs "$mnt" 2>/dev/null; then
  rmdir "$mnt"
  echo "SKIP: cannot mount a small tmpfs here (needs root)"
  exit 77
fi
log=$(mktemp)
trap 'umount "$mnt"; rmdir "$mnt"; rm -f "$log"' EXIT
export CAIRN_TEST_FULL_DISK_DIR=$mnt
mpiexec "$@" -n "$np" "$prog" --gtest_filter='AsyncTest.FullDisk*' --gtest_color=no >"$log" 2>&1
status=$?
cat "$log"
if [ "$status" -ne 0 ]; then exit "$status"; fi
# The test ran and passed: not skipped, not filtered away (a renamed test), not the funneled
# main's skip.
if grep -q 'SKIP' "$log" || ! grep -q '\[  PASSED  \] 1 test' "$log"; then
  echo "FAILED: the full-disk test did not run"
  exit 1
fi
