#!/usr/bin/env bash
# Runs PROGRAM TMPDIR ARGS... with a fresh temporary directory, removed afterwards.
set -euo pipefail
prog=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$prog" "$tmp" "$@"
