#!/usr/bin/env bash
# Builds the sotto-ffi library and generates the Swift, Kotlin and Python
# bindings from it, with the uniffi-bindgen binary of the same crate (so the
# generator and the library always share one uniffi version).
#
#   bindings/generate.sh [--release] [python] [kotlin] [swift]
#
# No language named: all three. The generated sources are build output
# (gitignored); this script writes them to:
#   python  bindings/python/sotto/sotto.py, plus the library beside it
#   kotlin  bindings/kotlin/src/main/kotlin/uniffi/sotto/sotto.kt
#   swift   bindings/swift/Sources/Sotto/sotto.swift and
#           bindings/swift/Sources/sottoFFI/{sottoFFI.h,module.modulemap}
# It prints the path of the built library last.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
profile=debug
cargo_flags=()
languages=()
for arg in "$@"; do
    case "$arg" in
        --release) profile=release; cargo_flags+=(--release) ;;
        python | kotlin | swift) languages+=("$arg") ;;
        *) echo "usage: $0 [--release] [python] [kotlin] [swift]" >&2; exit 2 ;;
    esac
done
[ ${#languages[@]} -gt 0 ] || languages=(python kotlin swift)

case "$(uname -s)" in
    Darwin) library_file=libsotto_ffi.dylib ;;
    *) library_file=libsotto_ffi.so ;;
esac
target_dir=${CARGO_TARGET_DIR:-$root/target}
library="$target_dir/$profile/$library_file"
bindgen="$target_dir/$profile/uniffi-bindgen"

cd "$root"
# Both the library and the generator; the library is not stripped, since
# uniffi reads its metadata from the symbols.
cargo build --quiet -p sotto-ffi ${cargo_flags[@]+"${cargo_flags[@]}"}

generate() { # language out-dir
    "$bindgen" generate --no-format --library "$library" --language "$1" --out-dir "$2" >/dev/null
}

for language in "${languages[@]}"; do
    case "$language" in
        python)
            out=bindings/python/sotto
            generate python "$out"
            cp "$library" "$out/"
            ;;
        kotlin)
            generate kotlin bindings/kotlin/src/main/kotlin
            ;;
        swift)
            scratch=$(mktemp -d)
            generate swift "$scratch"
            mkdir -p bindings/swift/Sources/Sotto bindings/swift/Sources/sottoFFI
            cp "$scratch/sotto.swift" bindings/swift/Sources/Sotto/
            cp "$scratch/sottoFFI.h" bindings/swift/Sources/sottoFFI/
            # SwiftPM's system-library target reads `module.modulemap`; add
            # the library to link against to uniffi's modulemap.
            sed 's/^\( *\)header "sottoFFI.h"$/&\n\1link "sotto_ffi"/' "$scratch/sottoFFI.modulemap" \
                >bindings/swift/Sources/sottoFFI/module.modulemap
            rm -r "$scratch"
            ;;
    esac
    echo "generated $language bindings" >&2
done
echo "$library"
