#!/usr/bin/env bash
# valgrind-gate.sh LOGDIR [SRCDIR]: decides whether the memcheck logs in
# LOGDIR (*.log, one per process, as valgrind --log-file=LOGDIR/%p.log
# writes them) are clean for dbmigrate.  It fails on
#   - any error report (invalid read or write, use of uninitialised memory,
#     invalid or mismatched free, overlapping copy, bad syscall parameter,
#     a process killed by a signal, ...) with a frame of dbmigrate's code in
#     any of its stacks: where it happened, where the block was freed, where
#     it was allocated (a pointer that dbmigrate freed and the server then
#     read is dbmigrate's bug too);
#   - any "definitely lost" leak whose allocation stack has such a frame.
# Possibly lost, indirectly lost and still-reachable blocks, and valgrind's
# own warnings, are not failures.
#
# A frame is dbmigrate's when it is in dbmigrate.so (a build without debug
# information: "(in /.../dbmigrate.so)") or in one of dbmigrate's source
# files, SRCDIR/*.c and SRCDIR/*.h (default: src/ of this checkout), as
# valgrind prints them: "(registry.c:466)", or with --fullpath-after=
# "(/path/to/checkout/src/registry.c:466)".  A server frame with the same
# bare file name (PostgreSQL has a catalog.c too) only appears with the
# server's debug symbols installed and without --fullpath-after=, and then
# counts as dbmigrate's: the gate errs on the side of failing.
#
# Every other report (the stock server's own: Debian's PostgreSQL is not
# built with USE_VALGRIND; scripts/valgrind.supp silences the known ones) is
# counted by kind and printed as information.
# Exit status: 0 clean, 1 reports involving dbmigrate, 2 usage error or no logs.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 LOGDIR [SRCDIR]" >&2
    exit 2
fi
logdir="${1%/}"
srcdir="${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src}"

shopt -s nullglob
logs=("$logdir"/*.log)
sources=("$srcdir"/*.c "$srcdir"/*.h)
shopt -u nullglob
if [ ${#logs[@]} -eq 0 ]; then
    echo "valgrind gate: no *.log files in $logdir (did valgrind run?)" >&2
    exit 2
fi
if [ ${#sources[@]} -eq 0 ]; then
    echo "valgrind gate: no *.c or *.h files in $srcdir" >&2
    exit 2
fi

# alternation of the source file names, dots made literal: catalog[.]c|...
names="$(for f in "${sources[@]}"; do basename "$f"; done | sed 's/[.]/[.]/g' | paste -sd'|')"

awk -v names="$names" -v nlogs=${#logs[@]} '
function flush(pid,    i, n, kind, lines, ours, leak, frames, k) {
    n = cnt[pid]
    if (n == 0) return
    kind = rec[pid, 1]
    lines = ""
    ours = 0
    frames = 0
    for (i = 1; i <= n; i++) {
        lines = lines "\n" rec[pid, i]
        if (rec[pid, i] ~ /^[ \t]+(at|by) 0x[0-9A-Fa-f]+: /) {
            frames++
            if (index(rec[pid, i], "dbmigrate.so") || rec[pid, i] ~ frame_re)
                ours = 1
        }
    }
    cnt[pid] = 0
    # summaries and hints have no stack; valgrind warnings are not errors
    if (frames == 0 || kind ~ /^Warning:/)
        return
    leak = (kind ~ / in loss record [0-9,]+ of [0-9,]+$/)
    if (leak && kind !~ / are definitely lost in loss record /) {
        other_leaks++
        return
    }
    total++
    if (ours) {
        bad++
        if (leak) bad_leaks++
        printf "---- %s%s\n", file[pid], lines
    } else {
        k = kind
        gsub(/0x[0-9A-Fa-f]+/, "0x...", k)
        sub(/^[0-9][0-9,]*/, "N", k)
        gsub(/ [0-9][0-9,]*/, " N", k)
        gsub(/[(][0-9][0-9,]*/, "(N", k)
        other[k]++
    }
}
BEGIN {
    # "(registry.c:466)", "(src/registry.c:466)", "(/any/path/src/registry.c:466)"
    frame_re = "[(](([^()]*/)?src/)?(" names "):[0-9]+[)]$"
}
FNR == 1 {
    for (p in cnt) flush(p)                # a report does not span two files
}
/^==[0-9]+==/ {
    pid = $0
    sub(/^==/, "", pid)
    sub(/==.*$/, "", pid)
    body = $0
    sub(/^==[0-9]+== ?/, "", body)
    sub(/[ \t\r]+$/, "", body)
    file[pid] = FILENAME
    if (body == "") { flush(pid); next }
    if (body !~ /^[ \t]/) flush(pid)       # a new report starts unindented
    else if (cnt[pid] == 0) next           # continuation of a report we skipped
    rec[pid, ++cnt[pid]] = body
}
END {
    for (p in cnt) flush(p)
    printf "valgrind gate: %d log(s), %d report(s), %d involving dbmigrate (%d of them definitely lost blocks); %d leak record(s) not gated (possibly/indirectly lost, reachable)\n", \
        nlogs, total, bad + 0, bad_leaks + 0, other_leaks + 0
    for (k in other)
        printf "  not dbmigrate'"'"'s: %d x %s\n", other[k], k
    exit (bad > 0 ? 1 : 0)
}
' "${logs[@]}"
