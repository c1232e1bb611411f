#!/usr/bin/env bash
# Builds Sotto's npm package into bindings/wasm/pkg (the directory to
# `npm publish` or `npm pack`): the sotto-wasm crate compiled to
# wasm32-unknown-unknown, wasm-bindgen's JS glue and .d.ts (--target web),
# the module shrunk by wasm-opt -Oz, and the hand-written files of npm/.
#
#   bindings/wasm/build.sh
#
# Installs what is missing first, so that a fresh machine and CI need
# nothing else:
#   Debian  rustc-web and rust-web-src (one version: the compiler and the
#           std sources that -Zbuild-std compiles for wasm32), lld-22
#           (wasm-ld-22); `rustup target add` cannot download here
#   cargo   wasm-bindgen-cli at exactly the version of wasm-bindgen in
#           Cargo.lock
#   npm     binaryen (wasm-opt), and the test tools, from package-lock.json
# Up to date, it changes nothing and takes a few seconds. It prints the
# module's size, raw and gzipped, last.
#
# Environment: CARGO_BUILD_JOBS (default 1: these machines have 2 cores);
# SOTTO_WASM_OPT_LEVEL, rustc's opt-level (default "s"; README.md compares
# "z", "s" and "3").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
pkg="$here/pkg"
target_dir="$root/target/wasm"
jobs=${CARGO_BUILD_JOBS:-1}
opt_level=${SOTTO_WASM_OPT_LEVEL:-s}
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo

log() { echo "[sotto-wasm] $*" >&2; }

# --- Debian: the compiler that builds std for wasm32, and the linker.
apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
deb_version() { # the installed version of a package, or nothing
    dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null \
        | awk '$1 == "installed" { print $2 }' || true
}
rustc_web=$(deb_version rustc-web)
if [ -z "$rustc_web" ] || [ "$rustc_web" != "$(deb_version rust-web-src)" ] \
    || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    apt_install rustc-web rust-web-src
fi
command -v wasm-ld-22 >/dev/null || apt_install lld-22

# --- wasm-bindgen-cli: its version must be the library's, exactly.
wb_version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
    "$root/Cargo.lock")
[ -n "$wb_version" ] || { log "no wasm-bindgen in Cargo.lock"; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wb_version" ]; then
    log "cargo install wasm-bindgen-cli --version $wb_version"
    cargo install --quiet -j "$jobs" --force wasm-bindgen-cli --version "$wb_version"
fi

# --- npm: wasm-opt (and the test tools), as package-lock.json pins them.
if [ ! -f "$here/node_modules/.package-lock.json" ] \
    || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    log "npm ci"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- The module. Debian's rustc builds std for wasm32 from rust-web-src;
# rustup's cargo drives it. Size matters on the web, but not at any
# price: opt-level "s" by default (README.md has the measurements), but
# SHA-3 (libcrux-sha3, ML-KEM's hash and XOF) at 3: at "s" its Keccak
# permutation made ML-KEM key generation six times slower, and at 3 the
# module is no larger. A separate target directory keeps the native
# builds' artifacts valid.
log "cargo build (wasm32-unknown-unknown, release, opt-level $opt_level)"
(
    cd "$root"
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 \
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt_level" \
    CARGO_PROFILE_RELEASE_LTO=true \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
    CARGO_PROFILE_RELEASE_PANIC=abort \
        cargo build --quiet -j "$jobs" --release -p sotto-wasm \
            --config 'profile.release.package.libcrux-sha3.opt-level=3' \
            --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort \
            --target-dir "$target_dir"
)
wasm="$target_dir/wasm32-unknown-unknown/release/sotto_wasm.wasm"

# --- The package, unless it is newer than everything it is made of.
up_to_date() {
    local made="$pkg/sotto_wasm_bg.wasm" input
    [ -f "$made" ] && [ "$(cat "$pkg/.opt-level" 2>/dev/null)" = "$opt_level" ] || return 1
    for input in "$wasm" "$here"/npm/* "$here/README.md" "$0"; do
        [ "$made" -nt "$input" ] || return 1
    done
}
if up_to_date; then
    log "pkg/ is up to date"
else
    scratch="$pkg.tmp"
    rm -rf "$scratch"
    log "wasm-bindgen --target web"
    wasm-bindgen --target web --out-dir "$scratch" --out-name sotto_wasm "$wasm"
    log "wasm-opt -Oz"
    # The features rustc enables for wasm32-unknown-unknown by default;
    # wasm-opt must know them to keep the instructions that use them.
    "$here/node_modules/.bin/wasm-opt" -Oz \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$scratch/sotto_wasm_bg.wasm" -o "$scratch/sotto_wasm_bg.opt.wasm"
    mv "$scratch/sotto_wasm_bg.opt.wasm" "$scratch/sotto_wasm_bg.wasm"
    cp "$here"/npm/* "$here/README.md" "$scratch/"
    echo "$opt_level" > "$scratch/.opt-level"
    rm -rf "$pkg"
    mv "$scratch" "$pkg"
fi

raw=$(stat -c %s "$pkg/sotto_wasm_bg.wasm")
gzipped=$(gzip -9 -c "$pkg/sotto_wasm_bg.wasm" | wc -c)
glue=$(cat "$pkg/sotto_wasm.js" "$pkg/index.js" "$pkg/node.js" "$pkg/errors.js" | gzip -9 -c | wc -c)
echo "bindings/wasm/pkg: sotto_wasm_bg.wasm $raw bytes ($gzipped gzipped); JS glue $glue bytes gzipped"
