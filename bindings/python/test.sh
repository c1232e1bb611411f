#!/usr/bin/env bash
# Generates the Python binding and runs its pytest suite.
#   bindings/python/test.sh [--release]
# Installs pytest with pip if it is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

command -v python3 >/dev/null || { apt-get install -y -q python3 python3-pip >/dev/null; }
if ! python3 -c 'import pytest' 2>/dev/null; then
    echo "installing pytest" >&2
    python3 -m pip install --quiet pytest || python3 -m pip install --quiet --break-system-packages pytest
fi

"$here/../generate.sh" "$@" python >/dev/null

cd "$here"
# -p no:cacheprovider: no .pytest_cache in the tree. pytest exits 5 when it
# collects no test; that is a failure here, as is any other non-zero code.
python3 -m pytest -p no:cacheprovider -q tests
