#!/usr/bin/env bash
# The tokenizer benchmark: src/tokenizer (bench.c) and js-tiktoken (bench.mjs) on the same corpus
# in one run, and the ratio. Run it as `make bench-tokenizer` (builds bench.c, generates the
# corpus). Usage: bench/tokenizer/run.sh [CORPUS_DIR] [SECONDS_PER_SUBSET]
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build/tokenizer}
secs=${2:-2}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "tokenizer benchmark: $(nproc) cores, $(uname -m), node $(node --version), corpus $dir/corpus.bin"
"$dir/bench" "$dir" data/tokenizer "$secs" >>"$out"
node bench/tokenizer/bench.mjs "$dir" "$secs" >>"$out"
awk '
/^LOAD/ { load[$2 " " $3] = $4; next }
/^RESULT/ {
    key = $3 " " $4; toks[$2 " " key] = $7; sec[$2 " " key] = $8; bytes[key] = $6; n[key] = $5
    if (!(key in seen)) { seen[key] = 1; order[++k] = key }
}
END {
    printf "%-12s %-8s %7s %9s %13s %13s %7s %13s\n", "encoding", "subset", "strings", "MB",
           "C tok/s", "js tok/s", "ratio", "C 2 threads"
    for (i = 1; i <= k; i++) {
        key = order[i]; split(key, a, " ")
        c = toks["c " key] / sec["c " key]; j = toks["js " key] / sec["js " key]
        if (toks["c " key] != toks["js " key]) printf "WARNING: %s token totals differ\n", key
        two = ("c2 " key in sec) ? sprintf("%13.0f", toks["c2 " key] / sec["c2 " key]) : ""
        printf "%-12s %-8s %7d %9.2f %13.0f %13.0f %6.1fx %s\n", a[1], a[2], n[key],
               bytes[key] / 1e6, c, j, c / j, two
    }
    for (e in load) printf "load %s: %s ms\n", e, load[e]
}' "$out"
