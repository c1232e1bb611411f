#!/usr/bin/env bash
# Everything CI checks of the bindings, from a fresh Debian machine with Rust:
# the ffi crate's lints and unit tests, the Python suite, the Kotlin suite,
# and the Swift header check. Installs what is missing (apt, npm, pip).
# Exits non-zero on any failure.
#   bindings/test-all.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

echo "== bindings: sotto-ffi lints and unit tests"
cargo clippy --quiet -p sotto-ffi --all-targets --no-deps -- -D warnings
cargo test --quiet -p sotto-ffi 2>&1 | tee "$log/ffi"

echo "== bindings: Python (pytest)"
"$here/python/test.sh" 2>&1 | tee "$log/python"

echo "== bindings: Kotlin (JUnit 5 on the JVM)"
"$here/kotlin/test.sh" 2>&1 | tee "$log/kotlin"

echo "== bindings: Swift (generated sources and header; no Swift toolchain here)"
"$here/swift/check.sh" 2>&1 | tee "$log/swift"

count() { # file pattern: sums the numbers that `pattern` captures
    sed -n "$2" "$1" | awk '{ sum += $1 } END { print sum + 0 }'
}
ffi=$(count "$log/ffi" 's/^test result: ok\. \([0-9]*\) passed.*/\1/p')
python=$(count "$log/python" 's/^\([0-9]*\) passed.*/\1/p')
kotlin=$(count "$log/kotlin" 's/^kotlin: \([0-9]*\) passed, 0 failed$/\1/p')
if [ "$python" -eq 0 ] || [ "$kotlin" -eq 0 ]; then
    echo "no Python or Kotlin test ran (python $python, kotlin $kotlin)" >&2
    exit 1
fi
echo "bindings: sotto-ffi $ffi, Python $python, Kotlin $kotlin tests passed; Swift header checked"
echo "$((ffi + python + kotlin)) passed, 0 failed"
