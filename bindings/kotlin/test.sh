#!/usr/bin/env bash
# Generates the Kotlin binding, compiles it with the JUnit 5 tests, and runs
# them on the JVM. Fails if any test fails or none ran.
#   bindings/kotlin/test.sh [--release]
#
# Needs a JDK (17+). Installs what is missing: JNA and JUnit 5 from Debian
# (libjna-java, junit5), the Kotlin compiler from npm (kotlin-compiler 2.4.x,
# into bindings/kotlin/.tools; Debian's own kotlin is too old). KOTLINC may
# name another kotlinc.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

jna=/usr/share/java/jna.jar
launcher=/usr/share/java/junit-platform-console-standalone.jar
missing=()
[ -f "$jna" ] || missing+=(libjna-java)
[ -f "$launcher" ] || missing+=(junit5)
command -v javac >/dev/null || missing+=(default-jdk-headless)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    apt-get install -y -q "${missing[@]}" >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

kotlinc=${KOTLINC:-$here/.tools/node_modules/kotlin-compiler/bin/kotlinc}
if [ ! -x "$kotlinc" ]; then
    command -v npm >/dev/null || apt-get install -y -q npm >/dev/null
    echo "installing kotlin-compiler@2.4 from npm" >&2
    npm install --prefix "$here/.tools" --no-audit --no-fund --silent kotlin-compiler@2.4 >/dev/null
fi
stdlib=$(dirname "$kotlinc")/../lib/kotlin-stdlib.jar

library=$("$here/../generate.sh" "$@" kotlin)

build="$here/build"
rm -rf "$build/classes"
mkdir -p "$build/classes"
echo "compiling the generated Kotlin and the tests" >&2
"$kotlinc" -nowarn -jvm-target 17 \
    -cp "$jna:$launcher" \
    -d "$build/classes" \
    "$here/src/main/kotlin" "$here/src/test/kotlin"

# The launcher's exit code is non-zero if a test failed or none ran; its
# summary is printed too, and checked below in case a version of the
# launcher exits 0 on failures.
set +e
java -Djna.library.path="$(dirname "$library")" \
    -jar "$launcher" \
    --class-path "$build/classes:$jna:$stdlib" \
    --select-package sotto \
    --fail-if-no-tests \
    --disable-banner \
    --disable-ansi-colors \
    --details=tree \
    --details-theme=ascii \
    2>&1 | tee "$build/junit.log"
status=${PIPESTATUS[0]}
set -e

succeeded=$(sed -n 's/^\[ *\([0-9]*\) tests successful *\]$/\1/p' "$build/junit.log")
failed=$(sed -n 's/^\[ *\([0-9]*\) tests failed *\]$/\1/p' "$build/junit.log")
if [ "$status" -ne 0 ] || [ -z "$succeeded" ] || [ "${failed:-1}" -ne 0 ] || [ "$succeeded" -eq 0 ]; then
    echo "Kotlin tests FAILED (launcher exit $status, ${succeeded:-?} successful, ${failed:-?} failed)" >&2
    exit 1
fi
echo "kotlin: $succeeded passed, $failed failed"
