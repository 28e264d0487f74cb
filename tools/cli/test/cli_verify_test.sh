#!/usr/bin/env bash
# (being written)
set -euo pipefail
echo "SKIP: not written yet"; exit 77
