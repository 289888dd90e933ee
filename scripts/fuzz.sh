#!/usr/bin/env bash
# Fuzz rflume's parsers of hostile input with cargo-fuzz (libFuzzer), each target for a bounded
# time, one after the other (libFuzzer uses one core; the machines have two). Not part of
# scripts/test.sh: a meaningful run takes minutes per target.
#
#   bash scripts/fuzz.sh                 # every target, 600 s each
#   bash scripts/fuzz.sh 60 line_framer  # one target, 60 s
#
# Targets (fuzz/fuzz_targets/):
#   properties      properties parser + substitution + graph validation (rflume check's path)
#   line_framer     the exec source's framer vs a model of BufferedReader.readLine + maxLineLength
#   tailfile_lines  TAILDIR's line reader on a growing real file vs a model of Flume's TailFile
#   position_file   TAILDIR's position file and fingerprint sidecar reader
#   avro_event      the Avro AvroFlumeEvent encoder vs the Apache Avro decoder
#
# Needs the nightly toolchain and cargo-fuzz (installed from crates.io when missing). A crash
# stops the run with libFuzzer's report; the input is kept in fuzz/artifacts/TARGET/ — reproduce
# it with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-…`, fix it, and keep it as
# a unit test. The corpus grows in fuzz/corpus/TARGET/ (not committed) and is reused next run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-600}"
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(properties line_framer tailfile_lines position_file avro_event)
fi

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: installing the nightly toolchain (cargo fuzz needs it)" >&2
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# Seeds: the example configurations for the properties target; the others start from nothing
# (their inputs are structured by `arbitrary`, and coverage guidance finds its way quickly).
mkdir -p fuzz/corpus/properties
cp -f conf/*.conf fuzz/corpus/properties/ 2>/dev/null || true

# Built once for all targets (the first build takes several minutes: librdkafka is compiled
# again for the fuzzing profile). `--sanitizer none`: with AddressSanitizer, the cc crate builds
# the bundled zstd with -fsanitize=address and librdkafka's configure then cannot link against
# it. rflume's fuzzed code is safe Rust, so what the fuzzer looks for — panics, aborts on
# allocation failure, timeouts, runaway memory (-rss_limit_mb) — needs no sanitizer.
sanitizer=(--sanitizer none)
cargo +nightly fuzz build --release "${sanitizer[@]}" >&2

summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    extra=()
    if [[ -f "fuzz/dict/$t.dict" ]]; then extra+=("-dict=fuzz/dict/$t.dict"); fi
    log="fuzz/artifacts/$t/last-run.log"
    echo "==> fuzzing $t for ${seconds}s (log: $log)" >&2
    status=0
    # -rss_limit_mb: a parser that allocates without bound is a finding, not a hang;
    # -timeout: one input taking more than 10 s is a finding too.
    cargo +nightly fuzz run --release "${sanitizer[@]}" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "${extra[@]}" >"$log" 2>&1 || status=$?
    execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -n1)"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | awk '{print $2}')"
    corpus="$(find "fuzz/corpus/$t" -type f | wc -l)"
    if [[ $status -ne 0 ]]; then
        echo "fuzz.sh: $t FAILED (exit $status); the end of its log:" >&2
        tail -n 40 "$log" >&2
        summary+=("$t: FAILED after ${execs:-?} runs, see $log and fuzz/artifacts/$t/")
        printf '%s\n' "${summary[@]}" >&2
        exit 1
    fi
    summary+=("$t: ${seconds}s, ${execs:-?} runs, coverage ${cov:-?} edges, corpus $corpus inputs, no crash")
done
printf '%s\n' "${summary[@]}"
