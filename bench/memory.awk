# bench/memory.awk: the memory table of bench/run.sh.
# Input lines (tab-separated): "method key value" with key vmhwm_before_kb,
# vmhwm_after_kb or rssanon_after_kb, and "method point total_bytes top"
# for the probes taken from inside the migration SQL.

$2 ~ /_kb$/ { kb[$1, $2] = $3; next }
{
    if (!($2 in seenpt)) { seenpt[$2] = 1; pts[++npts] = $2 }
    total[$1, $2] = $3
    top[$1, $2] = $4
}

END {
    print "| after step | raw: all contexts | raw: largest | dbmigrate: all contexts | dbmigrate: largest |"
    print "|---:|---:|---|---:|---|"
    for (i = 1; i <= npts; i++) {
        p = pts[i]
        printf "| %d | %.1f MB | %s | %.1f MB | %s |\n", p,
            total["raw", p] / 1048576, top["raw", p], total["dbmigrate", p] / 1048576, top["dbmigrate", p]
    }
    print ""
    print "| backend | VmHWM before | VmHWM after | growth | RssAnon after |"
    print "|---|---:|---:|---:|---:|"
    n = split("raw dbmigrate", m, " ")
    for (i = 1; i <= n; i++) {
        b = kb[m[i], "vmhwm_before_kb"]; a = kb[m[i], "vmhwm_after_kb"]
        printf "| %s | %.1f MB | %.1f MB | %.1f MB | %.1f MB |\n", m[i], b / 1024, a / 1024,
            (a - b) / 1024, kb[m[i], "rssanon_after_kb"] / 1024
    }
}
