#!/usr/bin/env bash
# Builds libsotto_ffi.so for the Android ABIs into src/main/jniLibs and
# generates the Kotlin binding, so that Gradle (or Android Studio) can build
# the module. Needs the Android NDK (ANDROID_NDK_HOME) and cargo-ndk
# (`cargo install cargo-ndk`). Untested on the machines Sotto is developed on.
#   bindings/kotlin/android/build-jnilibs.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android
cd "$root"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 \
    -o "$here/src/main/jniLibs" build --release -p sotto-ffi --lib
# The generator reads the host build of the same sources.
"$root/bindings/generate.sh" --release kotlin >/dev/null
echo "jniLibs and Kotlin sources ready; open $here in Android Studio or run gradle assembleRelease"
