#!/usr/bin/env bash
# Runs the session, threads, store, SFrame and peer benches and rewrites
# benches/RESULTS.md with their ratio tables, the machine and the date.
#
#   benches/run.sh            # about 8 minutes on a 2-core machine
#
# Every figure is a ratio to an operation timed in the same process (these
# machines drift by up to a third over minutes): never compare bare times
# across runs.
set -euo pipefail
cd "$(dirname "$0")/.."

out=benches/RESULTS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=${CARGO_BUILD_JOBS:-1}

echo "building the benches…" >&2
cargo bench -j"$jobs" --no-run --bench session --bench threads --bench store --bench sframe \
    >/dev/null 2>&1
cargo bench -j"$jobs" --no-run -p sotto-peer-benches --bench peers >/dev/null 2>&1

echo "session bench…" >&2
cargo bench -j"$jobs" --bench session 2>/dev/null >"$tmp/session.txt"
echo "threads bench…" >&2
cargo bench -j"$jobs" --bench threads 2>/dev/null >"$tmp/threads.txt"
echo "store bench…" >&2
cargo bench -j"$jobs" --bench store 2>/dev/null >"$tmp/store.txt"
echo "sframe bench…" >&2
cargo bench -j"$jobs" --bench sframe 2>/dev/null >"$tmp/sframe.txt"
echo "peer bench…" >&2
PEERS_CRITERION=0 cargo bench -j"$jobs" -p sotto-peer-benches --bench peers 2>/dev/null \
    >"$tmp/peers.txt"
# The same bench with RustCrypto's portable Poly1305 instead of its AVX2
# path (a global cfg, so a target directory of its own): the evidence for
# how much the AVX2 path's per-message setup costs on short messages.
echo "peer bench, poly1305_backend=soft…" >&2
RUSTFLAGS='--cfg poly1305_backend="soft"' CARGO_TARGET_DIR=target/poly1305-soft \
    PEERS_CRITERION=0 cargo bench -j"$jobs" -p sotto-peer-benches --bench peers 2>/dev/null \
    >"$tmp/peers-soft.txt"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
features=""
for f in aes pclmulqdq avx2 avx512f sha_ni; do
    case " $flags " in *" $f "*) features="$features $f" ;; esac
done

{
    echo "# Benchmark results"
    echo
    echo "Written by \`benches/run.sh\`; rerun it when the numbers move."
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src benches || echo ' (with local changes)')"
    echo "- machine: $(nproc) cores, ${cpu}; CPU features:${features}"
    echo "- toolchain: $(rustc --version)"
    echo
    echo "Ratios are medians over interleaved rounds with their min–max spread;"
    echo "a ratio < 1 means the first-named operation is faster. The machine is"
    echo "shared, so the spread includes other load."
    echo
    echo "## Sotto against its floors (\`benches/session.rs\`)"
    echo
    sed -n '/^Interleaved ratios/,/^PQXDH against/p' "$tmp/session.txt" | grep -E '^(Interleaved|\|)'
    echo
    echo "## PQXDH against classical X3DH (\`benches/session.rs\`)"
    echo
    sed -n '/^PQXDH against/,$p' "$tmp/session.txt" | grep -E '^(PQXDH|\|)'
    echo
    echo "## Threads through one manager (\`benches/threads.rs\`)"
    echo
    sed -n '/^Throughput of encryption/,$p' "$tmp/threads.txt" | grep -E '^(Throughput|\|)'
    echo
    echo "## Stores (\`benches/store.rs\`)"
    echo
    sed -n '/^Decrypt + commit of one/,$p' "$tmp/store.txt" \
        | grep -E '^(Decrypt|SQLite|Catching|\|)' | sed 's/^\(Catching.*\)$/\n\1/'
    echo
    sed -n '/^### /,$p' "$tmp/peers.txt" | sed 's/^### /## /'
    echo
    echo "## Poly1305: the AVX2 path against the portable one"
    echo
    echo "The peer bench again, built with \`--cfg poly1305_backend=\"soft\"\`. Each"
    echo "figure is relative to the anchor of its own process, so the two columns"
    echo "compare."
    echo
    python3 - "$tmp/peers.txt" "$tmp/peers-soft.txt" <<'PY'
import sys
def rows(path):
    found = {}
    for line in open(path):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0].startswith("steady chain"):
            found["steady chain 100 B: Sotto / anchor"] = cells[3]
            found["steady chain 100 B: Sotto / vodozemac"] = cells[2].split()[0]
            found["steady chain 100 B: floor / anchor"] = cells[5]
        elif cells[0].startswith("ChaCha20-Poly1305, 100 B"):
            found["ChaCha20-Poly1305 100 B: RustCrypto / ring"] = cells[1].split()[0]
        elif cells[0].startswith("that AEAD"):
            found["that AEAD / steady-chain floor"] = cells[1].split()[0]
    return found
avx, soft = rows(sys.argv[1]), rows(sys.argv[2])
print("| figure | AVX2 (autodetected, the default) | soft |")
print("| --- | --- | --- |")
for key in avx:
    print(f"| {key} | {avx[key]} | {soft.get(key, '?')} |")
PY
    echo
    cat benches/ML-KEM.md
    echo
    echo "## Every SFrame suite against its bare AEAD (\`benches/sframe.rs\`)"
    echo
    echo "Criterion medians of the two benchmarks of each group, run back to back"
    echo "(not interleaved: read with the drift in mind)."
    echo
    python3 - "$tmp/sframe.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
unit = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
times = {}
for name, value, scale in re.findall(
        r"^(sframe/\S+)\s*\n?\s*time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", text, re.M):
    times[name] = float(value) * unit[scale]
print("| suite | frame | sframe / aead | aead ns |")
print("| --- | --- | --- | --- |")
for name in sorted(times):
    if not name.endswith("/aead"):
        continue
    group = name[: -len("/aead")]
    sotto = times.get(group + "/sframe")
    if sotto is None:
        continue
    _, suite, size = group.split("/")
    print(f"| {suite} | {size} B | {sotto / times[name]:.2f} | {times[name]:.0f} |")
PY
    echo
    echo "## Reading"
    echo
    echo "- Targets (docs: /work/shared/DESIGN.md, Targets): steady-chain message"
    echo "  ≤ 1.5× floor and faster than vodozemac; DH-ratchet message ≤ 1.3× its"
    echo "  floor; setup ≤ 1.3× its floor (PQXDH's floor adds the KEM prekey's signature"
    echo "  check, ML-KEM encapsulation and decapsulation); SFrame 1 KiB ≤ 1.2× the bare AEAD and"
    echo "  faster than the \`sframe\` crate with the same suite."
    echo "- The floors are the bare RustCrypto primitives Sotto calls, so the"
    echo "  dependency rows say how much a different implementation (ring) would"
    echo "  move the floor itself."
    echo "- Dependency choice: RustCrypto's Poly1305 picks its AVX2 path at run"
    echo "  time, and that path's per-message setup dominates the ratchet's short"
    echo "  messages (see the Poly1305 table). Sotto stays on RustCrypto: pure Rust,"
    echo "  the same code on every platform and in wasm, and every target is met"
    echo "  with it. An app whose traffic is mostly short messages on x86 can build"
    echo "  with \`RUSTFLAGS='--cfg poly1305_backend=\"soft\"'\`; ring would be"
    echo "  faster still but brings C and assembly into every build, wasm included."
} >"$out"
echo "wrote $out" >&2
