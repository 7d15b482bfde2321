"""seccomp_deny.py SYSCALL[,SYSCALL...] CMD [ARG...] - run CMD under a
seccomp filter that fails the named system calls with EPERM, as a
container's or a service manager's filter does (systemd's
SystemCallFilter= with SystemCallErrorNumber=EPERM).  The filter is kept
across exec and by every child.  Exits 77 with a reason on stderr where it
cannot be set up (an architecture it does not know, no seccomp).
SPDX-License-Identifier: MIT
"""
import ctypes
import errno
import os
import platform
import struct
import sys

# (AUDIT_ARCH_*, {name: number}) of the architectures this knows
ARCHES = {
    "x86_64": (0xC000003E, {"sync_file_range": 277, "linkat": 265}),
    "aarch64": (0xC00000B7, {"sync_file_range": 84, "linkat": 37}),
}
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
# BPF: ld word, jeq (true, false offsets), ret
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06


def insn(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: seccomp_deny.py SYSCALL[,SYSCALL...] CMD [ARG...]")
    machine = platform.machine()
    if machine not in ARCHES:
        sys.stderr.write("seccomp_deny.py: no system call table for %s\n" % machine)
        sys.exit(77)
    arch, table = ARCHES[machine]
    names = sys.argv[1].split(",")
    unknown = [n for n in names if n not in table]
    if unknown:
        sys.exit("seccomp_deny.py: unknown system call %s" % ", ".join(unknown))
    # seccomp_data: nr at offset 0, arch at offset 4.  Another
    # architecture's calls (a 32-bit ABI) are let through.
    prog = [insn(LD_W_ABS, 0, 0, 4), insn(JEQ_K, 1, 0, arch), insn(RET_K, 0, 0, RET_ALLOW),
            insn(LD_W_ABS, 0, 0, 0)]
    for n in names:
        prog += [insn(JEQ_K, 0, 1, table[n]), insn(RET_K, 0, 0, RET_ERRNO | errno.EPERM)]
    prog.append(insn(RET_K, 0, 0, RET_ALLOW))
    code = b"".join(prog)
    buf = ctypes.create_string_buffer(code, len(code))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog = struct.pack("HxxxxxxP", len(prog), ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0 \
            or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fbuf), 0, 0) != 0:
        sys.stderr.write("seccomp_deny.py: cannot set a seccomp filter: %s\n"
                         % os.strerror(ctypes.get_errno()))
        sys.exit(77)
    os.execvp(sys.argv[2], sys.argv[2:])


main()
