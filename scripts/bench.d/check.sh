# scripts/bench.d/check.sh - `scripts/bench check CORPUS`: smg-check's
# spam scoring against bogofilter on a labelled corpus, by 10-fold
# cross-validation.
#
# CORPUS holds ham/ and spam/, one message per file.  The files of each
# class, sorted by name, go to fold (index mod 10), so both classes are
# spread evenly over the folds.  For each fold k, smg-check learns the
# nine other folds into a fresh database (--learn-spam/--learn-ham) and
# scores fold k (--score, one process, one core), and bogofilter does the
# same with a fresh word list (-s/-n -b to register, -T -b to classify);
# nothing is tuned on the test fold.  Printed per fold and as the mean of
# the folds: false positives (share of the fold's ham called spam), false
# negatives (share of its spam not called spam), and messages per second
# of CPU time (user + system of the classifying process) and of wall time.
# bogofilter says S(pam), U(nsure) or H(am): its FN are counted with U as
# ham (mail that is not called spam leaves through the good gateways) and,
# on a second line, with U as spam.  A last block compares the two at the
# same false-positive count (an ROC point, picked on the pooled test
# folds: for comparison only, not a setting).
# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# BENCH_* and SMG_BIN come from scripts/bench and lib.sh.
# shellcheck disable=SC2153

# check_time OUTFILE CMD... - run CMD with stdout to OUTFILE; print
# "wall user sys" seconds on stdout
check_time() {
    local out=$1 TIMEFORMAT='%R %U %S' t
    shift
    t=$({ time "$@" >"$out" 2>>"$BENCH_TMP/check.err"; } 2>&1) || true
    echo "$t"
}

# bench_check [CORPUS] - see the head of this file
bench_check() {
    local corpus=${1:-${SMG_BENCH_CORPUS:-$BENCH_TOP/../shared/corpus}}
    local k dir n_ham n_spam have_bf=1 t
    local -a ham spam

    if [ ! -d "$corpus/ham" ] || [ ! -d "$corpus/spam" ]; then
        note "usage: scripts/bench check CORPUS (a folder with ham/ and spam/; got '$corpus')"
        return 1
    fi
    corpus=$(cd "$corpus" && pwd)
    bench_tmpdir
    ensure_smg_build smg-check
    if [ -z "$SMG_BIN" ]; then
        note "smg-check is not available: $SMG_BIN_WHY"
        return 1
    fi
    command -v bogofilter >/dev/null || { have_bf=0; note "bogofilter is not installed: measuring smg-check alone"; }
    mapfile -t ham < <(find "$corpus/ham" -maxdepth 1 -type f | LC_ALL=C sort)
    mapfile -t spam < <(find "$corpus/spam" -maxdepth 1 -type f | LC_ALL=C sort)
    n_ham=${#ham[@]} n_spam=${#spam[@]}

    echo "== check: spam scoring, 10-fold cross-validation =="
    echo "corpus:     $corpus: $n_ham ham, $n_spam spam (file i of a class is in fold i mod 10)"
    echo "smg-check:  $SMG_BIN, rules $BENCH_TOP/data/rules/smg.rules, defaults otherwise"
    echo "            (threshold 5.0, bayes_weight 8); learns 9 folds, scores the 10th with --score"
    if ((have_bf)); then
        echo "bogofilter: $(bogofilter -V 2>&1 | head -n 1), defaults (-C: no config file;"
        echo "            spam_cutoff 0.99, ham_cutoff 0.45), registers with -s/-n -b, classifies with -T -b"
    fi
    echo "CPU:        $(nproc) cores here; msg/s = messages / CPU seconds of the one classifying process"
    echo

    # the folds: symlinked folders for smg, name lists for bogofilter
    printf '%s\n' "${ham[@]}" >"$BENCH_TMP/ham.all"
    printf '%s\n' "${spam[@]}" >"$BENCH_TMP/spam.all"
    for k in 0 1 2 3 4 5 6 7 8 9; do
        dir=$BENCH_TMP/fold$k
        mkdir -p "$dir/train-ham" "$dir/train-spam" "$dir/test-ham" "$dir/test-spam" "$dir/state"
        local c
        for c in ham spam; do
            awk -v k="$k" '(NR - 1) % 10 != k' "$BENCH_TMP/$c.all" >"$dir/train-$c.list"
            awk -v k="$k" '(NR - 1) % 10 == k' "$BENCH_TMP/$c.all" >"$dir/test-$c.list"
            xargs -d '\n' -a "$dir/train-$c.list" ln -s -t "$dir/train-$c"
            xargs -d '\n' -a "$dir/test-$c.list" ln -s -t "$dir/test-$c"
        done
        find "$dir/test-ham" "$dir/test-spam" -type l | LC_ALL=C sort >"$dir/test.list"
        cat >"$dir/smg.conf" <<EOF
[spool]
dir = $dir/spool
state_dir = $dir/state
user = $(id -un)
[check]
rules = $BENCH_TOP/data/rules/smg.rules
spamstats = no
EOF
    done

    printf '%-5s %-10s %9s %9s %9s %9s %9s\n' fold program "FP" "FN" "train s" "msg/s cpu" "msg/s wall"
    for k in 0 1 2 3 4 5 6 7 8 9; do
        dir=$BENCH_TMP/fold$k
        t=$(check_time "$dir/learn.out" "$SMG_BIN" -c "$dir/smg.conf" \
            --learn-spam "$dir/train-spam" --learn-ham "$dir/train-ham")
        echo "$t" >"$dir/smg.train.time"
        t=$(check_time "$dir/smg.out" "$SMG_BIN" -c "$dir/smg.conf" --score "$dir/test-ham" "$dir/test-spam")
        echo "$t" >"$dir/smg.test.time"
        # "PATH: verdict=spam score=S ..." -> "class verdict score"
        sed -En 's#^.*/test-(ham|spam)/[^:]*: verdict=([a-z]*) score=([-0-9.]*) .*#\1 \2 \3#p' \
            "$dir/smg.out" >"$dir/smg.res"
        check_row "$k" smg-check "$dir/smg.res" "$dir/smg.train.time" "$dir/smg.test.time"
        if ((have_bf)); then
            mkdir -p "$dir/bogo"
            t=$(check_time /dev/null bash -c "bogofilter -C -d '$dir/bogo' -s -b <'$dir/train-spam.list' &&
                bogofilter -C -d '$dir/bogo' -n -b <'$dir/train-ham.list'")
            echo "$t" >"$dir/bf.train.time"
            t=$(check_time "$dir/bf.out" bash -c "bogofilter -C -d '$dir/bogo' -T -b <'$dir/test.list'")
            echo "$t" >"$dir/bf.test.time"
            # "PATH S 0.99" -> "class verdict score" (U as ham), and U as spam
            sed -En 's#^.*/test-(ham|spam)/[^ ]* ([SHU]) ([0-9.e-]*)$#\1 \2 \3#p' "$dir/bf.out" |
                awk '{ print $1, ($2 == "S" ? "spam" : "ham"), $3 }' >"$dir/bf.res"
            sed -En 's#^.*/test-(ham|spam)/[^ ]* ([SHU]) ([0-9.e-]*)$#\1 \2 \3#p' "$dir/bf.out" |
                awk '{ print $1, ($2 == "H" ? "ham" : "spam"), $3 }' >"$dir/bfu.res"
            check_row "$k" bogofilter "$dir/bf.res" "$dir/bf.train.time" "$dir/bf.test.time"
            check_row "$k" "bf U=spam" "$dir/bfu.res" "$dir/bf.train.time" "$dir/bf.test.time"
        fi
    done
    echo
    echo "mean of the 10 folds:"
    check_mean smg-check smg
    if ((have_bf)); then
        check_mean bogofilter bf
        check_mean "bf U=spam" bfu
        echo
        check_matched
    fi
    if [ -s "$BENCH_TMP/check.err" ] && grep -qv 'learn: spam=' "$BENCH_TMP/check.err"; then
        echo
        echo "errors seen (first lines):"
        grep -v 'learn: spam=' "$BENCH_TMP/check.err" | head -n 5 | sed 's/^/    /'
    fi
}

# check_row FOLD PROGRAM RESFILE TRAINTIME TESTTIME - one fold's line; the
# figures are also kept in $BENCH_TMP/rows for the means
check_row() {
    awk -v fold="$1" -v prog="$2" -v key="$(echo "$3" | sed 's|.*/||; s|\.res$||')" \
        -v train="$(cat "$4")" -v test="$(cat "$5")" '
        { n[$1]++; if ($1 == "ham" && $2 == "spam") fp++; if ($1 == "spam" && $2 != "spam") fn++ }
        END {
            split(train, tr, " "); split(test, te, " ")
            total = n["ham"] + n["spam"]
            cpu = te[2] + te[3]
            fpr = n["ham"] ? 100 * fp / n["ham"] : 0
            fnr = n["spam"] ? 100 * fn / n["spam"] : 0
            rate = cpu > 0 ? total / cpu : 0
            wall = te[1] > 0 ? total / te[1] : 0
            printf "%-5s %-10s %8.2f%% %8.2f%% %9.2f %9.0f %9.0f   (%d/%d ham, %d/%d spam)\n", \
                fold, prog, fpr, fnr, tr[1], rate, wall, fp + 0, n["ham"], fn + 0, n["spam"]
            printf "%s %s %.6f %.6f %.6f %.6f %.6f %d %d %d %d\n", key, fold, fpr, fnr, tr[1], rate, wall, \
                fp, n["ham"], fn, n["spam"] >> "'"$BENCH_TMP/rows"'"
        }' "$3"
}

# check_mean PROGRAM KEY - the mean of the folds' rates, and the totals
check_mean() {
    awk -v prog="$1" -v key="$2" '$1 == key {
            c++; fpr += $3; fnr += $4; tr += $5; rate += $6; wall += $7
            fp += $8; nh += $9; fn += $10; ns += $11 }
        END {
            if (!c) exit
            printf "      %-10s %8.2f%% %8.2f%% %9.2f %9.0f %9.0f   (total %d/%d ham, %d/%d spam)\n", \
                prog, fpr / c, fnr / c, tr / c, rate / c, wall / c, fp, nh, fn, ns }' "$BENCH_TMP/rows"
}

# check_matched - each program at the other's false-positive count, from
# the pooled scores of the test folds
check_matched() {
    local dir smg_fp bf_fp
    cat "$BENCH_TMP"/fold*/smg.res >"$BENCH_TMP/smg.pool"
    cat "$BENCH_TMP"/fold*/bf.res >"$BENCH_TMP/bf.pool"
    smg_fp=$(awk '$1 == "ham" && $2 == "spam"' "$BENCH_TMP/smg.pool" | wc -l)
    bf_fp=$(awk '$1 == "ham" && $2 == "spam"' "$BENCH_TMP/bf.pool" | wc -l)
    echo "at the same number of false positives (pooled folds; an ROC point, not a setting):"
    for dir in "bogofilter smg-check bf $smg_fp" "smg-check bogofilter smg $bf_fp"; do
        # shellcheck disable=SC2086
        set -- $dir
        # the lowest cutoff with at most $4 ham above it: the spam below it
        sort -k3,3gr "$BENCH_TMP/$3.pool" | awk -v prog="$1" -v other="$2" -v maxfp="$4" '
            { cls[NR] = $1; s[NR] = $3 + 0; if ($1 == "ham") nh++; else ns++ }
            END {
                n = NR; fp = 0; tp = 0; best = 0
                for (i = 1; i <= n; i++) {
                    if (cls[i] == "ham") fp++; else tp++
                    # a cutoff between tied scores is not possible
                    if (i < n && s[i + 1] == s[i])
                        continue
                    if (fp <= maxfp && tp > best) best = tp
                }
                printf "      %-10s at %s'"'"'s %d false positives (%.2f%%): FN %.2f%% (%d/%d spam)\n", \
                    prog, other, maxfp, nh ? 100 * maxfp / nh : 0, ns ? 100 * (ns - best) / ns : 0, ns - best, ns
            }'
    done
}
