#!/usr/bin/env bash
# Runs every fuzz target for a given time on nightly, two at a time, niced
# (these machines are shared), and prints each target's executions and
# findings.
#
#   fuzz/run.sh [seconds per target (default 600)] [targets...]
#
# Needs `cargo install cargo-fuzz` and a nightly toolchain (`rustup
# toolchain list`). New inputs go to fuzz/work/<target> (not checked in);
# the seeds in fuzz/corpus/<target> are read, never written. A crash is
# saved under fuzz/artifacts/<target>/: replay it with
# `cargo +nightly fuzz run <target> <file>`, then copy it into
# fuzz/corpus/<target>/regression-<name> so that tests/fuzz_corpora.rs
# replays it on stable.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-600}
shift || true
all=(envelope prekey_message ratchet_message bundle session_record sframe_header
     sframe_frame call_sender_key call_offer call_answer group_frame two_parties
     store_file)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

# The stateful targets run without AddressSanitizer, in their own target
# directory. two_parties: the code it drives has no `unsafe`, its time goes
# to X25519 (about 80% of a profile), and ASan made it four times slower
# (221 against 853 executions/s). Its scripts are capped at 64 bytes (32
# operations, enough to turn the ratchet past MAX_RECEIVING_CHAINS), as each
# operation may cost a DH ratchet step or an X3DH. store_file: its time goes
# to SQLite, C code that neither ASan nor coverage instruments here, and ASan
# made it five times slower (148 against 780 executions/s). The parsing
# targets keep ASan, which watches the `unsafe` of the decoders under them.
unsanitized=" two_parties store_file "
sanitizer() { if [[ $unsanitized == *" $1 "* ]]; then echo none; else echo address; fi; }
target_dir() { if [[ $unsanitized == *" $1 "* ]]; then echo target/unsanitized; else echo target; fi; }
extra_flags() { case $1 in two_parties) echo "-max_len=${TWO_PARTIES_MAX_LEN:-64}" ;; esac; }
export -f sanitizer target_dir extra_flags
export unsanitized
# The binaries run where they are built: let the field arithmetic use this
# CPU's instructions (about 5% on two_parties).
export RUSTFLAGS="${RUSTFLAGS:-} -C target-cpu=native"

CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice -n 19 cargo +nightly fuzz build -O
for target in $unsanitized; do
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice -n 19 \
        cargo +nightly fuzz build -O -s none --target-dir target/unsanitized "$target"
done
mkdir -p logs

run_one() {
    local target=$1 seconds=$2
    mkdir -p "work/$target"
    # shellcheck disable=SC2046 # extra_flags is zero or more words
    nice -n 19 cargo +nightly fuzz run -O -s "$(sanitizer "$target")" \
        --target-dir "$(target_dir "$target")" "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 $(extra_flags "$target") \
        >"logs/$target.log" 2>&1 || true
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P 2 -I{} bash -c "run_one {} $seconds"

printf '| target | seconds | executions | exec/s | findings |\n| --- | --- | --- | --- | --- |\n'
for target in "${targets[@]}"; do
    log="logs/$target.log"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    echo "| $target | $seconds | $runs | $rate | $crashes artifact(s) |"
done
