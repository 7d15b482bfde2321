# smgconf.py - the test libraries' smg.conf writer (t/lib/recv.sh, scan.sh,
# send.sh, gateway.sh): a test's defaults, a dict of groups, with the
# "group.key = value" lines of an overrides file on top ("#" lines and
# empty ones skipped, the value <unset> removes the key), written as
# GKeyFile groups.
# SPDX-License-Identifier: MIT


def write(conf, overrides, out):
    for line in open(overrides):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, v = line.split("=", 1)
        g, k = k.strip().rsplit(".", 1)
        if v.strip() == "<unset>":
            conf.get(g, {}).pop(k, None)
        else:
            conf.setdefault(g, {})[k] = v.strip()
    with open(out, "w") as f:
        for g, kv in conf.items():
            f.write("[%s]\n" % g)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))
