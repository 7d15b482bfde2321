#!/usr/bin/python3
"""docdrift.py - what the code takes against what the man pages say.

Usage: docdrift.py SRCDIR BINDIR

Prints TAP lines (without a plan; t/9040-doc-drift.t adds it) for:
- smg.conf(5) against the key table of lib/config.c: every key documented
  in its group, every documented key real, each documented default the
  table's, each documented range "(a..b, default)" the table's bounds;
- each program's OPTIONS section of smg-<prog>(8) against its option
  parsing in bin/smg-<prog>.c (getopt_long's table and short options): every
  option documented, every documented option real, an argument named for
  each that takes one, the SYNOPSIS naming no other; and the built
  program itself accepts every documented option (getopt names an unknown
  one on standard error).

SPDX-License-Identifier: MIT
"""
import os
import re
import subprocess
import sys

SRC, BIN = sys.argv[1], sys.argv[2]
PROGS = ["recv", "check", "scan", "sign", "route", "send", "queue", "blcheck"]
n = 0


def result(good, desc, problems=()):
    global n
    n += 1
    print("%s %d - %s" % ("ok" if good else "not ok", n, desc))
    for p in problems:
        print("#   " + p)


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def roff_text(s):
    """the words of a roff line, font requests and escapes taken out"""
    s = re.sub(r"^\.(B|I|R|BR|RB|BI|IB|IR|RI)\s+", "", s)
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\(mu", "x").replace("\\&", "")
    s = s.replace('"', "")
    return s


# ---- smg.conf(5) against the table ----------------------------------------

def table():
    src = read("lib/config.c")
    body = src[src.index("smg_conf_keys[] = {"):src.index("/* clang-format on */")]
    rows = {}
    for m in re.finditer(r'\{"([^"]+)", "([^"]+)", SMG_CONF_(\w+),\s*'
                         r'((?:SMG_\w+\s+)?(?:"[^"]*"\s*)+|NULL),\s*'
                         r'([-0-9.e]+), ([-0-9.e]+)', body):
        group, key, typ, d, lo, hi = m.groups()
        if d != "NULL":
            d = re.sub(r'"\s*"', "", d)
            d = d.replace("SMG_SYSCONFDIR ", "/etc/smg").replace(
                "SMG_PKGDATADIR ", "pkgdatadir").replace('"', "")
        else:
            d = None
        rows[(group.replace(" *", ""), key)] = (typ, d, float(lo), float(hi))
    return rows


def man_keys():
    """(group, key) -> (text in the tag's parentheses, whole entry text)"""
    lines = read("man/smg.conf.5").split("\n")
    keys = {}
    group = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'^\.SH "?\[([a-z]+)', line)
        if m:
            group = m.group(1)
        elif line.startswith(".SH"):
            group = None
        elif group and line == ".TP" and i + 1 < len(lines):
            tag = roff_text(lines[i + 1])
            j = i + 2
            entry = []
            while j < len(lines) and lines[j] not in (".TP",) \
                    and not lines[j].startswith(".SH"):
                entry.append(roff_text(lines[j]))
                j += 1
            m = re.match(r"^([a-z_, ]+?)\s*\((.*)\)\s*$", tag)
            if m is None:
                keys[(group, tag)] = ("", "")
            else:
                for k in re.split(r"[ ,]+", m.group(1).strip()):
                    keys[(group, k)] = (m.group(2), " ".join(entry))
            i = j
            continue
        i += 1
    return keys


def num(s):
    v = float(s)
    return v


def check_conf():
    rows = table()
    doc = man_keys()
    result(len(rows) > 100, "the key table of lib/config.c is read (%d keys)" % len(rows))
    missing = ["[%s] %s" % k for k in sorted(rows) if k not in doc]
    result(not missing, "smg.conf(5) documents every key of the table", missing)
    extra = ["[%s] %s" % k for k in sorted(doc) if k not in rows]
    result(not extra, "every key smg.conf(5) documents is in the table", extra)
    bad = []
    for k in sorted(set(rows) & set(doc)):
        d = rows[k][1]
        paren, entry = doc[k]
        if d is None:
            continue
        # a default of several words may be written out in the entry
        words = re.split(r"[ ,;|]+", paren)
        if d not in words and d not in paren.split(", ") \
                and not (len(d) > 40 and " ".join(d.split()) in entry) \
                and not any(w.startswith(d.rsplit("/", 1)[0] + "/") and
                            ("%s" % d.rsplit("/", 1)[1]) in paren for w in words):
            bad.append("[%s] %s: the table says %r, the page (%s)" % (k + (d, paren)))
    result(not bad, "smg.conf(5) gives each key the table's default", bad)
    bad = []
    for k in sorted(set(rows) & set(doc)):
        typ, d, lo, hi = rows[k]
        paren = doc[k][0]
        m = re.match(r"^(-?[0-9.]+)\.\.(-?[0-9.]*)[,)]?", paren)
        if m is None:
            if typ in ("INT",) and (lo or hi):
                bad.append("[%s] %s: the table has bounds %g..%g, the page none"
                           % (k + (lo, hi)))
            continue
        dlo = num(m.group(1))
        dhi = num(m.group(2)) if m.group(2) else 0.0
        if dlo != lo or (m.group(2) and dhi != hi):
            bad.append("[%s] %s: the table's range is %g..%g, the page's %s"
                       % (k + (lo, hi, paren)))
    result(not bad, "smg.conf(5) gives each integer key the table's range", bad)


# ---- OPTIONS of smg-<prog>(8) against bin/smg-<prog>.c --------------------

COMMON_LONG = {"config": True, "debug": False, "log": True, "help": False,
               "version": False}


def code_options(prog):
    """option name ("-c", "--config") -> whether it takes an argument"""
    src = read("bin/smg-%s.c" % prog)
    m = re.search(r"^parse_options\(.*?^\}", src, re.S | re.M)
    body = m.group(0)
    opts = {}
    for name, arg in re.findall(r'\{"([a-z-]+)", (no|required|optional)_argument',
                                body):
        opts["--" + name] = arg != "no"
    if "SMG_PROG_LONGOPTS" in body:
        for name, arg in COMMON_LONG.items():
            opts["--" + name] = arg
    m = re.search(r"smg_prog_getopt\([^;]*?,\s*((?:SMG_PROG_OPTSTRING\s*)?"
                  r'(?:"[^"]*")?)\s*,\s*longopts', body, re.S)
    optstring = m.group(1).replace("SMG_PROG_OPTSTRING", '"c:dnhV"')
    optstring = re.sub(r'"\s*"?', "", optstring)
    for i, c in enumerate(optstring):
        if c != ":":
            opts["-" + c] = optstring[i + 1:i + 2] == ":"
    return opts


def section(lines, name):
    out = []
    on = False
    for line in lines:
        if line.startswith(".SH"):
            on = line.split(None, 1)[1].strip('"') == name
            continue
        if on:
            out.append(line)
    return out


OPT_RE = re.compile(r"(?<![\w\\-])(--?[a-zA-Z][a-zA-Z-]*)")


def man_options(prog):
    """from OPTIONS: option -> takes an argument; and SYNOPSIS's options"""
    lines = read("man/smg-%s.8" % prog).split("\n")
    opts = {}
    sect = section(lines, "OPTIONS")
    for i, line in enumerate(sect):
        if i == 0 or sect[i - 1] != ".TP":
            continue
        # one tag may name several: ".BI \-c " file" "\fR, \fP\-\-config " file"
        # split the tag at each option; what follows it up to the next is its
        # argument
        text = roff_text(line)
        # ".BR \-\-log " syslog|stderr": the words after it are its argument
        parts = OPT_RE.split(text)
        for j in range(1, len(parts), 2):
            rest = parts[j + 1].strip().strip(",").strip()
            rest = rest.replace("[", "").replace("]", "").strip()
            opts[parts[j]] = rest != "" and rest != "..."
    synopsis = set()
    for line in section(lines, "SYNOPSIS"):
        text = roff_text(line)
        for o in OPT_RE.findall(text):
            if re.fullmatch(r"-[a-zA-Z]{2,}", o):
                synopsis.update("-" + c for c in o[1:])
            else:
                synopsis.add(o)
    return opts, synopsis


def probe(prog, opt, arg):
    """whether the built program takes opt (getopt names an unknown one)"""
    args = [os.path.join(BIN, "smg-" + prog)]
    args.append(opt + "=1" if arg and opt.startswith("--") else opt)
    if arg and not opt.startswith("--"):
        args.append("1")
    args += ["--no-such-option-zz", "-c", "/nonexistent/smg.conf"]
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=20)
    except subprocess.TimeoutExpired:
        return False
    err = p.stderr.decode("utf-8", "replace")
    name = opt.lstrip("-")
    return ("unrecognized option '%s" % opt) not in err \
        and ("invalid option -- '%s'" % name) not in err


def check_options():
    for prog in PROGS:
        code = code_options(prog)
        doc, synopsis = man_options(prog)
        result(len(code) >= 8, "smg-%s: its options are read from the code (%d)"
               % (prog, len(code)))
        missing = sorted(o for o in code if o not in doc)
        result(not missing, "smg-%s(8) OPTIONS documents every option" % prog,
               missing)
        extra = sorted(o for o in doc if o not in code)
        result(not extra, "smg-%s(8) OPTIONS documents only real options" % prog,
               extra)
        # (the page may name operands after an option that takes none:
        # "--genkey domain selector")
        bad = ["%s: the code takes an argument, the page names none" % o
               for o in sorted(set(code) & set(doc)) if code[o] and not doc[o]]
        result(not bad, "smg-%s(8) names the argument of each option that takes "
               "one" % prog, bad)
        extra = sorted(o for o in synopsis if o not in code)
        result(not extra, "smg-%s(8) SYNOPSIS names only real options" % prog,
               extra)
        bad = sorted(o for o in doc if o in code and not probe(prog, o, code[o]))
        result(not bad, "smg-%s accepts every documented option" % prog, bad)


check_conf()
check_options()
