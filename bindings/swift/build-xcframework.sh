#!/usr/bin/env bash
# macOS with Xcode only (untested on the Linux machines Sotto is developed
# on). Builds build/sottoFFI.xcframework: the sotto-ffi static library for
# macOS (arm64 + x86_64), iOS devices (arm64) and the iOS simulator (arm64 +
# x86_64), each with the generated header and modulemap. Package.swift uses
# it instead of the system-library target once it exists.
#   bindings/swift/build-xcframework.sh
set -euo pipefail
[ "$(uname -s)" = Darwin ] || { echo "$0 needs macOS with Xcode" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}

targets="aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios"
rustup target add $targets
cd "$root"
for target in $targets; do
    cargo rustc --quiet -p sotto-ffi --lib --release --target "$target" --crate-type staticlib
done

# The Swift sources, header and modulemap, from the host build (the
# interface is the same on every target).
"$root/bindings/generate.sh" --release swift >/dev/null

build="$here/build"
rm -rf "$build/sottoFFI.xcframework" "$build/staging"
mkdir -p "$build/staging/headers" "$build/staging/macos" "$build/staging/ios-simulator"
cp "$here/Sources/sottoFFI/sottoFFI.h" "$build/staging/headers/"
# In the XCFramework the binary target links the library itself: the
# modulemap names no library to link.
grep -v '^ *link "sotto_ffi"$' "$here/Sources/sottoFFI/module.modulemap" \
    >"$build/staging/headers/module.modulemap"

library() { echo "$target_dir/$1/release/libsotto_ffi.a"; }
lipo -create "$(library aarch64-apple-darwin)" "$(library x86_64-apple-darwin)" \
    -output "$build/staging/macos/libsotto_ffi.a"
lipo -create "$(library aarch64-apple-ios-sim)" "$(library x86_64-apple-ios)" \
    -output "$build/staging/ios-simulator/libsotto_ffi.a"

xcodebuild -create-xcframework \
    -library "$build/staging/macos/libsotto_ffi.a" -headers "$build/staging/headers" \
    -library "$(library aarch64-apple-ios)" -headers "$build/staging/headers" \
    -library "$build/staging/ios-simulator/libsotto_ffi.a" -headers "$build/staging/headers" \
    -output "$build/sottoFFI.xcframework"
rm -r "$build/staging"
echo "built $build/sottoFFI.xcframework; run \`swift test\` in $here"
