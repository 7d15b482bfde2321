# scripts/bench.d/lib.sh - helpers shared by the subcommands of scripts/bench.
#
# Sourced by scripts/bench (bash).  Everything a benchmark starts is
# registered with at_exit, and run_at_exit (the EXIT trap) undoes it in
# reverse order, so an interrupt or a failure leaves no process and no
# temporary file behind.  Processes are only ever stopped by their own pid.
# CPU time of a server is measured on a cgroup made for it (cgroup v2
# cpu.stat, or v1 cpuacct), which counts every process the server forks
# whether or not anyone waits for it; without cgroups it falls back to
# /proc (the server's own and its reaped children's times plus those of its
# live descendants), which misses children that are never waited for.
# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# BENCH_D and BENCH_TOP are set by scripts/bench; SMG_BIN* are for it.
# shellcheck disable=SC2034,SC2153

BENCH_PY=/usr/bin/python3
[ -x "$BENCH_PY" ] || BENCH_PY=python3
BENCH_AT_EXIT=()
BENCH_TMP=""
BENCH_MEM=""

# note - print a line on stderr
note() { printf 'bench: %s\n' "$*" >&2; }

# die - print a line on stderr and exit 1 (the EXIT trap cleans up)
die() { note "$*"; exit 1; }

# at_exit - register a shell command to run when the script exits
at_exit() { BENCH_AT_EXIT+=("$1"); }

# run_at_exit - run the registered commands, last first, once
run_at_exit() {
    local i
    trap - EXIT INT TERM HUP
    for ((i = ${#BENCH_AT_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${BENCH_AT_EXIT[i]}" || true
    done
    BENCH_AT_EXIT=()
}

# bench_traps - install the cleanup traps
bench_traps() {
    trap run_at_exit EXIT
    trap 'note "interrupted"; exit 130' INT
    trap 'note "terminated"; exit 143' TERM HUP
}

# scratch_dir VAR PARENT - unless VAR is set already: make a folder in
# PARENT, readable by servers that run as other users (postfix, nobody),
# removed at exit, and set VAR to it.  On ext2/3/4 the folder is marked
# as the top of a hierarchy (chattr +T): the folders made in it (each
# server's spool or queue) are spread over the disk's block groups as
# top-level folders are, instead of going into PARENT's group, where the
# files that test suites removed make creating a file slow for minutes
# (see discard): right after 100000 files were removed in /tmp, 20000
# files were created at 2500-3300/s in a new folder of /tmp and at
# 33000-37000/s in one under a +T folder.  (The spreading picks the
# emptiest group, which is often the one a run just before this one
# emptied: back-to-back runs still wait, as remove_scratch says.)  Both
# servers get the same.
scratch_dir() {
    local dir
    [ -n "${!1}" ] && return 0
    dir=$(mktemp -d "$2/smg-bench.XXXXXX") || die "cannot make a folder in $2"
    chmod 755 "$dir"
    chattr +T "$dir" 2>/dev/null || true
    printf -v "$1" '%s' "$dir"
    at_exit "remove_scratch '$dir'"
}

# remove_scratch DIR - remove a run's folder; when that frees many inodes
# on a disk, say that the next benchmark should wait (see discard)
remove_scratch() {
    local n
    n=$(find "$1" -xdev 2>/dev/null | wc -l)
    rm -rf -- "$1"
    if ((n > 10000)) && [ "$(fs_type "$(dirname "$1")")" != tmpfs ]; then
        note "removed $n files: on ext4 without a journal, creating files is slower" \
            "for up to five minutes; wait before the next benchmark"
    fi
}

# bench_tmpdir - make the run's temporary folder (once) and set BENCH_TMP
bench_tmpdir() { scratch_dir BENCH_TMP "${SMG_BENCH_TMPDIR:-${TMPDIR:-/tmp}}"; }

# bench_memdir - set BENCH_MEM to a folder on a tmpfs (/dev/shm), removed
# at exit, for the virus scanners' temporary files: libclamav writes every
# MIME part it scans to a file and removes it again, which is what a tmpfs
# is for (smg-scan@.service mounts one, and clamd's TemporaryDirectory
# belongs on one as well).  Both sides get it.
bench_memdir() { scratch_dir BENCH_MEM "${SMG_BENCH_MEMDIR:-/dev/shm}"; }

# discard DIR - move DIR into the run's trash, removed at exit.  On ext4
# without a journal, creating a file skips over every inode freed in the
# last minute or more, at some microseconds each: removing one run's
# thousands of files would slow the next run's file creation, so that a
# run would pay for the one before it.
discard() {
    [ -e "$1" ] || return 0
    mkdir -p "$BENCH_TMP/trash"
    mv -- "$1" "$(mktemp -d "$BENCH_TMP/trash/XXXXXX")/"
}

# alive PID - whether process PID exists and is not a zombie
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# descendants PID - print the pids of PID's descendants, children first
descendants() {
    local child
    for child in $(pgrep -P "$1" 2>/dev/null); do
        echo "$child"
        descendants "$child"
    done
}

# kill_tree PID - stop PID and its descendants, each by its pid: TERM,
# then KILL for those still running after 5 s (zombies count as gone)
kill_tree() {
    local pids p n=50 left
    mapfile -t pids < <(descendants "$1")
    pids=("$1" "${pids[@]}")
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    while ((n-- > 0)); do
        left=0
        for p in "${pids[@]}"; do alive "$p" && left=1 && break; done
        ((left)) || return 0
        sleep 0.1
    done
    for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
    return 0
}

# free_port - print a free TCP port on 127.0.0.1 (chosen by the kernel)
free_port() {
    "$BENCH_PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_listen PORT PID SECONDS - wait until 127.0.0.1:PORT listens; fail if
# PID (when not empty) dies first or the time runs out
wait_listen() {
    local port=$1 pid=$2 n=$(($3 * 10))
    while ((n-- > 0)); do
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        if [ -n "$pid" ] && ! alive "$pid"; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# now - print the wall clock in seconds with microseconds
now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }

# cg_new NAME VAR - make a cgroup for CPU accounting and set VAR to its
# path, or to "" if cgroups cannot be used here (not root, read-only, none)
cg_new() {
    local base dir
    printf -v "$2" '%s' ""
    [ -z "${SMG_BENCH_NO_CGROUP:-}" ] || return 0
    for base in /sys/fs/cgroup /sys/fs/cgroup/cpuacct \
        /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/unified; do
        if [ -f "$base/cgroup.controllers" ] || [ -f "$base/cpuacct.usage" ]; then
            dir="$base/smg-bench.$$.$1"
            if mkdir "$dir" 2>/dev/null; then
                if [ -f "$dir/cpu.stat" ] || [ -f "$dir/cpuacct.usage" ]; then
                    at_exit "cg_remove '$dir'"
                    printf -v "$2" '%s' "$dir"
                    return 0
                fi
                rmdir "$dir" 2>/dev/null
            fi
        fi
    done
    return 0
}

# cg_enter CG - move the calling (sub)shell into cgroup CG (no-op if empty)
cg_enter() {
    [ -z "$1" ] || echo "$BASHPID" >"$1/cgroup.procs"
}

# cg_pids CG - print the pids in cgroup CG
cg_pids() {
    [ -n "$1" ] && [ -f "$1/cgroup.procs" ] && cat "$1/cgroup.procs"
    return 0
}

# cg_remove CG - kill what is left in cgroup CG, by pid, and remove it
cg_remove() {
    local cg=$1 pid n=50
    [ -d "$cg" ] || return 0
    for pid in $(cg_pids "$cg"); do kill -KILL "$pid" 2>/dev/null; done
    while ! rmdir "$cg" 2>/dev/null && ((n-- > 0)); do sleep 0.1; done
}

# cpu_ns CG PID - print the CPU time (ns) used so far by cgroup CG, or when
# CG is empty by process PID and its descendants (see the file comment)
cpu_ns() {
    local cg=$1 pid=$2
    if [ -n "$cg" ] && [ -f "$cg/cpu.stat" ]; then
        awk '$1 == "usage_usec" { printf "%d\n", $2 * 1000 }' "$cg/cpu.stat"
    elif [ -n "$cg" ]; then
        cat "$cg/cpuacct.usage"
    else
        "$BENCH_PY" "$BENCH_D/cputree.py" "$pid"
    fi
}

# cpu_method CG - describe how cpu_ns measures
cpu_method() {
    case $1 in
    "") echo "/proc: utime+stime+cutime+cstime of the server's process tree" ;;
    *cpuacct*) echo "cgroup v1 cpuacct.usage of a cgroup holding the server" ;;
    *) echo "cgroup v2 cpu.stat usage_usec of a cgroup holding the server" ;;
    esac
}

# fs_type DIR - print the file system type that holds DIR
fs_type() { stat -f -c %T "$1" 2>/dev/null || echo unknown; }

# dirsync_what DIR MODE - what [spool] dirsync = MODE does to a spool
# under DIR: "ext4 with a journal: not needed", "... cur/ synchronous"
dirsync_what() {
    local dev name
    case $2 in
    no) echo "off"; return ;;
    yes) echo "cur/ synchronous"; return ;;
    esac
    dev=$(stat -c '%Hd:%Ld' "$1" 2>/dev/null) || { echo "unknown"; return; }
    name=$(basename "$(readlink -f "/sys/dev/block/$dev" 2>/dev/null)")
    if [ "$(fs_type "$1")" != ext2/ext3 ]; then
        echo "$(fs_type "$1"): not needed"
    elif [ -d "/proc/fs/jbd2/$name-8" ]; then
        echo "ext4 with a journal: not needed"
    else
        echo "ext4 without a journal: cur/ synchronous"
    fi
}

# fsync_rate DIR COUNT SIZE - print how many durable SIZE-byte files a
# second this disk takes (write, fsync, rename, fsync directory)
fsync_rate() {
    "$BENCH_PY" "$BENCH_D/fsync-rate.py" "$1" "$2" "$3"
}

# count_files DIR... - print the number of regular files under the DIRs
count_files() {
    find "$@" -type f 2>/dev/null | wc -l
}

# ensure_smg_build PROGRAM - set SMG_BIN to bin/PROGRAM of $SMG_BUILD, or
# when SMG_BUILD is unset of _build/bench in the tree, which is configured
# (once) and where that program is made (every time, so the figures are
# for the current source);
# on failure set SMG_BIN empty and SMG_BIN_WHY to the reason
ensure_smg_build() {
    local prog=$1 build=$BENCH_TOP/_build/bench log
    SMG_BIN="" SMG_BIN_WHY=""
    if [ -n "${SMG_BUILD:-}" ]; then
        if [ -x "$SMG_BUILD/bin/$prog" ]; then
            SMG_BIN=$SMG_BUILD/bin/$prog
        else
            SMG_BIN_WHY="$SMG_BUILD/bin/$prog not found (SMG_BUILD=$SMG_BUILD: build it there first)"
        fi
        return 0
    fi
    bench_tmpdir
    log=$BENCH_TMP/build.log
    note "building smg in $build"
    if ! (
        set -e
        cd "$BENCH_TOP"
        sh scripts/deps
        [ -x configure ] || autoreconf -fi
        mkdir -p "$build"
        cd "$build"
        [ -f Makefile ] || "$BENCH_TOP/configure"
        make -j"$(nproc 2>/dev/null || echo 2)" "bin/$prog"
    ) </dev/null >"$log" 2>&1; then
        note "the build failed; its last lines:"
        tail -n 15 "$log" | sed 's/^/    /' >&2
        if [ -x "$build/bin/$prog" ]; then
            note "using the $prog left by an earlier build: it may be stale"
        fi
    fi
    if [ -x "$build/bin/$prog" ]; then
        SMG_BIN=$build/bin/$prog
    else
        SMG_BIN_WHY="$build/bin/$prog was not built (not written yet, or the build failed)"
    fi
    return 0
}

# ensure_tools PROGRAM... - install the project's packages (scripts/deps)
# if any PROGRAM is missing; fail when one is still missing
ensure_tools() {
    local p missing=""
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    note "missing:$missing; running scripts/deps"
    sh "$BENCH_TOP/scripts/deps" >&2 || die "scripts/deps failed"
    for p in "$@"; do
        command -v "$p" >/dev/null 2>&1 || die "$p is still missing after scripts/deps"
    done
}
