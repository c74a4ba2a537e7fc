# bench/report.awk: the markdown tables of bench/run.sh.
# Input: tab-separated samples "case N method rep ms", sorted by case, N,
# method and ms (numerically).  Variable maxn: the largest N.  Cases named
# big_* are the large merge graph (part biggraph), reported in their own
# tables; variables bign (chain length), bigmerges, bigtotal (revisions),
# bigmidsteps and bigmidrev (the middle downgrade) and bigcalls describe it.
# Cases named htext_* are health() and migrate_validate() over htextrevs
# revisions of htextkb kB of text (htextmb MB in all; part healthtext).

function median(k,    c) {
    c = cnt[k]
    if (c == 0) return ""
    if (c % 2) return val[k, (c + 1) / 2]
    return (val[k, c / 2] + val[k, c / 2 + 1]) / 2
}

function fmt(x) {
    if (x == "") return "-"
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.3f", x)
}

function spread(k) {
    if (cnt[k] < 2) return fmt(median(k))
    return sprintf("%s (%s-%s)", fmt(median(k)), fmt(val[k, 1]), fmt(val[k, cnt[k]]))
}

# least-squares slope of log(ms) over log(N) for the medians of case/method
function slope(c, m,    i, n, x, y, sx, sy, sxx, sxy, k) {
    k = 0; sx = sy = sxx = sxy = 0
    for (i = 1; i <= nsizes; i++) {
        n = sizes[i]
        if (cnt[c, n, m] == 0) continue
        x = log(n); y = log(median(c SUBSEP n SUBSEP m) + 1e-9)
        sx += x; sy += y; sxx += x * x; sxy += x * y; k++
    }
    if (k < 2) return ""
    return (k * sxy - sx * sy) / (k * sxx - sx * sx)
}

{
    k = $1 SUBSEP $2 SUBSEP $3
    val[k, ++cnt[k]] = $5
    if ($1 ~ /^(big|htext)_/) next      # not one of the chain sizes
    if (!($2 in seen)) { seen[$2] = 1; sizes[++nsizes] = $2 }
}

# thousands separators: 21000 -> 21,000
function th(x,    s) {
    s = sprintf("%d", x)
    while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
    return s
}

# the large merge graph (part biggraph)
function biggraph(    n, i, c, k, kr, kd, ratio, mratio, calls, ncalls, clabel, lbl, steps, st, line, r) {
    n = bign
    print "## Large merge graph: " th(bigtotal) " revisions (" th(bign) " chain, " th(bigmerges) " side branches, " th(bigmerges) " merges)"
    print ""
    print "A chain r1..r" n " where every " (bigmerges ? int(bign / bigmerges) : "-") "th revision r_i also gets a side branch x_i from r_(i-1), the two"
    print "joined by migrate_merge(ARRAY[r_i, x_i]); every revision is 'SELECT 1' both ways, merges are empty."
    print "Registered through the API from one `psql -1 -f` (migrate_register and migrate_merge calls, the merge id"
    print "caught with \\gset). Raw = as many `SELECT 1` from `psql -1 -f` as dbmigrate runs steps (" th(bigtotal) " for the"
    print "upgrade, of which dbmigrate's " th(bigmerges) " merges are empty). Wall-clock ms, median (min-max)."
    print ""
    print "| run | steps | raw | dbmigrate | ratio | min ratio |"
    print "|---|---:|---:|---:|---:|---:|"
    kd = "big_register" SUBSEP n SUBSEP "dbmigrate"
    r = median(kd)
    printf "| register all %s revisions (one transaction) | %s | - | %s | - | - |\n", th(bigtotal), th(bigtotal), spread(kd)
    printf "| of which: per revision (total / %s) | 1 | - | %.3f | - | - |\n", th(bigtotal), r / bigtotal
    kd = "big_register_call" SUBSEP n SUBSEP "dbmigrate"
    printf "| one migrate_register call (mean over %s, psql \\timing) | 1 | - | %s | - | - |\n", th(bign + bigmerges), spread(kd)
    kd = "big_merge_call" SUBSEP n SUBSEP "dbmigrate"
    printf "| one migrate_merge call (mean over all %s, psql \\timing) | 1 | - | %s | - | - |\n", th(bigmerges), spread(kd)
    kd = "big_merge_call_last" SUBSEP n SUBSEP "dbmigrate"
    if (cnt[kd] > 0)
        printf "| one migrate_merge call, the last %s (graph of nearly %s) | 1 | - | %s | - | - |\n", th(int(bigmerges / 10)), th(bigtotal), spread(kd)
    split("big_upgrade big_down_mid big_down_base", c, " ")
    lbl["big_upgrade"] = "migrate_upgrade() base -> head"
    lbl["big_down_mid"] = "migrate_downgrade('" bigmidrev "') (the middle merge)"
    lbl["big_down_base"] = "migrate_downgrade('base')"
    steps["big_upgrade"] = bigtotal; steps["big_down_mid"] = bigmidsteps; steps["big_down_base"] = bigtotal - bigmidsteps
    for (i = 1; i <= 3; i++) {
        kr = c[i] SUBSEP n SUBSEP "raw"; kd = c[i] SUBSEP n SUBSEP "dbmigrate"
        if (cnt[kd] == 0) continue
        ratio = median(kr) > 0 ? median(kd) / median(kr) : 0
        mratio = val[kr, 1] > 0 ? val[kd, 1] / val[kr, 1] : 0
        printf "| %s | %s | %s | %s | %.3f | %.3f |\n", lbl[c[i]], th(steps[c[i]]), spread(kr), spread(kd), ratio, mratio
    }
    print ""
    print "Calls at head (ms per call: median of " bigcalls " warm calls in one session, and the first, cold, call;"
    print "fresh = right after registration and upgrade, vacuumed = after VACUUM ANALYZE of dbmigrate's tables):"
    print ""
    print "| call | fresh warm | fresh cold | vacuumed warm | vacuumed cold |"
    print "|---|---:|---:|---:|---:|"
    ncalls = split("history show validate health merge_heads", calls, " ")
    clabel["history"] = "migrate_history()"
    clabel["show"] = "migrate_show('head')"
    clabel["validate"] = "migrate_validate()"
    clabel["health"] = "health()"
    clabel["merge_heads"] = "migrate_merge('{heads}') (one head: returns it)"
    for (i = 1; i <= ncalls; i++) {
        line = "| " clabel[calls[i]] " |"
        for (st = 1; st <= 2; st++) {
            k = "big_" calls[i] (st == 2 ? "_vac" : "") SUBSEP n
            line = line " " fmt(median(k SUBSEP "warm")) " | " fmt(median(k SUBSEP "cold")) " |"
        }
        print line
    }
    print ""
}

# health() over a lot of stored text (part healthtext)
function healthtext(    st, k, w) {
    print "## health() over " htextmb " MB of stored text (" htextrevs " applied revisions of " htextkb " kB)"
    print ""
    print "ms per call: median of the warm calls in one session, and the first, cold, call; fresh = right after"
    print "registration and upgrade, vacuumed = after VACUUM ANALYZE. migrate_validate() re-hashes every applied"
    print "revision's text, which is what health() did on every call before 1.1."
    print ""
    print "| call | state | warm | cold | target | met |"
    print "|---|---|---:|---:|---|---|"
    for (st = 1; st <= 2; st++) {
        k = "htext_health" (st == 2 ? "_vac" : "") SUBSEP htextrevs
        w = median(k SUBSEP "warm")
        printf "| health() | %s | %s | %s | <= 5 ms | %s |\n", (st == 2 ? "vacuumed" : "fresh"),
            fmt(w), fmt(median(k SUBSEP "cold")), (w != "" && w <= 5.0) ? "yes" : "**no**"
    }
    for (st = 1; st <= 2; st++) {
        k = "htext_validate" (st == 2 ? "_vac" : "") SUBSEP htextrevs
        printf "| migrate_validate() | %s | %s | %s | - | - |\n", (st == 2 ? "vacuumed" : "fresh"),
            fmt(median(k SUBSEP "warm")), fmt(median(k SUBSEP "cold"))
    }
    print ""
}

END {
    bigrun = cnt["big_register" SUBSEP bign SUBSEP "dbmigrate"] > 0
    htextrun = cnt["htext_health" SUBSEP htextrevs SUBSEP "warm"] > 0
    if (nsizes == 0) { if (bigrun) biggraph(); if (htextrun) healthtext(); exit }
    # sizes in input order are already ascending (sorted by N within case)
    for (i = 1; i <= nsizes; i++)
        for (j = i + 1; j <= nsizes; j++)
            if (sizes[j] + 0 < sizes[i] + 0) { t = sizes[i]; sizes[i] = sizes[j]; sizes[j] = t }

    ncases = split("upgrade downgrade cheap register branchy_register branchy_upgrade", cases, " ")
    label["upgrade"] = "upgrade base -> head (CREATE TABLE chain)"
    label["downgrade"] = "downgrade head -> base (DROP TABLE chain)"
    label["cheap"] = "upgrade, one-row INSERT per revision"
    label["register"] = "register N revisions (raw: N INSERTs into a plain table)"
    label["branchy_register"] = "register, branchy graph (N/50 branch/merge pairs)"
    label["branchy_upgrade"] = "upgrade, branchy graph"
    target["upgrade"] = "<= 1.05"; target["downgrade"] = "<= 1.05"; target["cheap"] = "< 1.0"

    # the chain's timed runs and growth tables only when one of those cases ran
    for (ci = 1; ci <= ncases; ci++)
        for (i = 1; i <= nsizes; i++)
            if (cnt[cases[ci] SUBSEP sizes[i] SUBSEP "dbmigrate"] > 0) hastimed = 1
    if (hastimed) {
    print "## Timed runs (wall-clock ms, median (min-max); ratio = dbmigrate / raw of the medians)"
    print ""
    print "min ratio = dbmigrate / raw of the fastest runs: noise on a shared machine only adds time,"
    print "so where the spread is wide it is the steadier comparison."
    print ""
    print "| run | N | raw | dbmigrate | ratio | min ratio | target | met |"
    print "|---|---:|---:|---:|---:|---:|---|---|"
    for (ci = 1; ci <= ncases; ci++) {
        c = cases[ci]
        for (i = 1; i <= nsizes; i++) {
            n = sizes[i]
            kr = c SUBSEP n SUBSEP "raw"; kd = c SUBSEP n SUBSEP "dbmigrate"
            if (cnt[kd] == 0) continue
            ratio = median(kr) > 0 ? median(kd) / median(kr) : 0
            met = "-"
            if (c in target) {
                if (target[c] ~ /<=/) met = ratio <= 1.05 ? "yes" : "**no**"
                else met = ratio < 1.0 ? "yes" : "**no**"
            }
            mratio = val[kr, 1] > 0 ? val[kd, 1] / val[kr, 1] : 0
            printf "| %s | %d | %s | %s | %.3f | %.3f | %s | %s |\n", label[c], n, spread(kr), spread(kd),
                ratio, mratio, (c in target) ? target[c] : "-", met
        }
    }
    print ""
    }

    for (k in cnt) { split(k, kp, SUBSEP); if (kp[3] == "warm" && kp[1] !~ /^(big|htext)_/) havecalls = 1 }
    if (!havecalls) ncalls = 0
    else {
    print "## Calls at head (ms per call: median of the warm calls in one session, and the first, cold, call)"
    print ""
    print "State \"fresh\": right after registration and upgrade, before any VACUUM (what a deploy sees);"
    print "\"vacuumed\": after VACUUM ANALYZE of dbmigrate.revision, version and log."
    print ""
    ncalls = split("noop_upgrade current history health health_pending", calls, " ")
    clabel["noop_upgrade"] = "no-op migrate_upgrade()"
    clabel["current"] = "migrate_current()"
    clabel["history"] = "migrate_history()"
    clabel["health"] = "health()"
    clabel["health_pending"] = "health(), all N pending"
    hdr = "| call | state |"; sep = "|---|---|"
    for (i = 1; i <= nsizes; i++) { hdr = hdr sprintf(" N=%d warm | cold |", sizes[i]); sep = sep "---:|---:|" }
    print hdr " slope (warm) | target | met |"
    print sep "---:|---|---|"
    for (ci = 1; ci <= ncalls; ci++) {
        for (st = 1; st <= 2; st++) {
            c = calls[ci] (st == 2 ? "_vac" : "")
            if (calls[ci] == "health_pending" && st == 2) continue      # measured fresh only
            line = "| " clabel[calls[ci]] " | " (st == 2 ? "vacuumed" : "fresh") " |"
            for (i = 1; i <= nsizes; i++) {
                n = sizes[i]
                line = line " " fmt(median(c SUBSEP n SUBSEP "warm")) " | " fmt(median(c SUBSEP n SUBSEP "cold")) " |"
            }
            s = slope(c, "warm")
            tg = "-"; met = "-"
            if (calls[ci] == "noop_upgrade" || calls[ci] == "current") {
                tg = "<= 1 ms at N=" maxn
                w = median(c SUBSEP maxn SUBSEP "warm")
                met = (w != "" && w <= 1.0) ? "yes" : "**no**"
            }
            if (calls[ci] ~ /^health/) {
                tg = "<= 5 ms at N=" maxn
                w = median(c SUBSEP maxn SUBSEP "warm")
                met = (w != "" && w <= 5.0) ? "yes" : "**no**"
            }
            printf "%s %s | %s | %s |\n", line, (s == "" ? "-" : sprintf("%.2f", s)), tg, met
        }
    }
    print ""
    }

    if (hastimed) {
    print "## Growth with N (median ms; slope = least-squares log-log exponent over the sizes run)"
    print ""
    hdr = "| measurement |"; sep = "|---|"
    for (i = 1; i <= nsizes; i++) { hdr = hdr sprintf(" N=%d |", sizes[i]); sep = sep "---:|" }
    print hdr " slope |"
    print sep "---:|"
    ng = split("upgrade:raw upgrade:dbmigrate downgrade:raw downgrade:dbmigrate cheap:raw cheap:dbmigrate register:raw register:dbmigrate", grow, " ")
    for (gi = 1; gi <= ng; gi++) {
        split(grow[gi], p, ":")
        if (slope(p[1], p[2]) == "" && cnt[p[1] SUBSEP sizes[1] SUBSEP p[2]] == 0) continue
        line = "| " p[1] " " p[2] " |"
        for (i = 1; i <= nsizes; i++) line = line " " fmt(median(p[1] SUBSEP sizes[i] SUBSEP p[2])) " |"
        s = slope(p[1], p[2])
        print line " " (s == "" ? "-" : sprintf("%.2f", s)) " |"
    }
    for (i = 1; i <= nsizes; i++) {
        n = sizes[i]
        r = median("register" SUBSEP n SUBSEP "dbmigrate")
        if (r != "") per = per sprintf("%s%.3f ms at N=%d", per == "" ? "" : ", ", r / n, n)
    }
    if (per != "") { print ""; print "Registration per revision: " per "." }
    print ""
    }

    if (bigrun) biggraph()
    if (htextrun) healthtext()
}
