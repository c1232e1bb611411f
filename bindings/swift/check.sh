#!/usr/bin/env bash
# What can be checked of the Swift binding without a Swift toolchain:
# generates the Swift sources, C header and modulemap, then
#   1. compiles the header with clang (C and Objective-C, warnings as errors);
#   2. links a C program that takes the address of every function the header
#      declares against the built library: the header and the library agree;
#   3. checks that every FFI symbol the generated Swift calls is declared in
#      the header.
# The Swift code itself is compiled only where Swift exists (macOS: see
# bindings/README.md). Installs clang from Debian if missing.
#   bindings/swift/check.sh [--release]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v clang >/dev/null; then
    echo "installing clang" >&2
    apt-get install -y -q clang >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q clang >/dev/null; }
fi

library=$("$here/../generate.sh" "$@" swift)
ffi="$here/Sources/sottoFFI"
header="$ffi/sottoFFI.h"
swift="$here/Sources/Sotto/sotto.swift"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo '#include "sottoFFI.h"' >"$scratch/include.c"
for language in c objective-c; do
    clang -fsyntax-only -Wall -Wextra -Werror -I"$ffi" -x "$language" "$scratch/include.c"
done
grep -q '^ *link "sotto_ffi"$' "$ffi/module.modulemap" ||
    { echo "module.modulemap does not link sotto_ffi" >&2; exit 1; }

# Every function declared in the header (the names before their argument
# lists, outside typedefs).
grep -v '^typedef' "$header" |
    grep -oE '^[A-Za-z_][A-Za-z0-9_ *]*[ *](uniffi|ffi)_sotto_ffi_[A-Za-z0-9_]+\(' |
    grep -oE '(uniffi|ffi)_sotto_ffi_[A-Za-z0-9_]+' |
    sort -u >"$scratch/declared"
declared=$(wc -l <"$scratch/declared")
[ "$declared" -gt 100 ] || { echo "found only $declared functions in $header" >&2; exit 1; }
{
    echo '#include "sottoFFI.h"'
    echo 'int main(void) {'
    echo '    const void *volatile functions[] = {'
    sed 's/.*/        (const void *)\&&,/' "$scratch/declared"
    echo '    };'
    echo '    return functions[0] == 0;'
    echo '}'
} >"$scratch/link.c"
clang -Wall -Werror -I"$ffi" "$scratch/link.c" -o "$scratch/link" \
    -L"$(dirname "$library")" -lsotto_ffi -Wl,-rpath,"$(dirname "$library")"
"$scratch/link"

grep -o '\b\(uniffi\|ffi\)_sotto_ffi_[A-Za-z0-9_]*' "$swift" | sort -u >"$scratch/called"
missing=$(comm -23 "$scratch/called" "$scratch/declared")
if [ -n "$missing" ]; then
    echo "the generated Swift calls functions the header does not declare:" >&2
    echo "$missing" >&2
    exit 1
fi
echo "swift: header compiles; $declared functions link; $(wc -l <"$scratch/called") called from Swift, all declared"
echo "swift: the Swift sources and XCTest suite were not compiled (no Swift toolchain here)"
