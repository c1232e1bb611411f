#!/usr/bin/env bash
# Tests Sotto's npm package, building it first (build.sh: seconds when it is
# up to date):
#   1. the crate's unit tests, natively (error codes and their .d.ts list);
#   2. the TypeScript declarations, by compiling tests/types.ts with
#      `tsc --strict` against the built package;
#   3. the node tests (node --test tests/node): conversations with
#      out-of-order delivery over the in-memory and JS stores, the JS store
#      interface and the conformance check, durability of the writing
#      methods (overlapping encryptions over slow stores), batches, 1:1
#      calls, SFrame frames, error codes;
#   4. the package in headless Chromium (node --test tests/browser): Debian's
#      chromium, installed if missing, driven by playwright-core, loading a
#      page served on 127.0.0.1 that reloads while IndexedDB writes are in
#      flight.
# Stops at the first failure.
#
#   bindings/wasm/test.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

"$here/build.sh"

cd "$here"
# The tests import the package by its name, as an app does: through its
# package.json `exports` (Node.js picks node.js, TypeScript index.d.ts).
ln -sfn ../pkg node_modules/sotto

echo "== sotto-wasm unit tests"
(cd "$root" && cargo test --quiet -j "${CARGO_BUILD_JOBS:-1}" -p sotto-wasm)

echo "== TypeScript declarations"
node_modules/.bin/tsc --noEmit --strict --target es2022 --module nodenext \
    --moduleResolution nodenext --lib es2022,dom,esnext.disposable tests/types.ts

echo "== node tests"
node --test tests/node/

echo "== Chromium"
if [ ! -x /usr/bin/chromium ]; then
    sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "[sotto-wasm] apt-get install chromium" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
node --test tests/browser/
