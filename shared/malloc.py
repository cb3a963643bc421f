"""Freed large blocks go back to the system at once (issue 27: no growth).

glibc's malloc serves a block of 128 KiB or more with its own mmap and unmaps it when
freed, but it raises that threshold to the size of each such block freed (up to 32 MiB):
after the first password hash (argon2id takes 19 MiB, services/identity/domain.py), every
later one is carved from the heap of the thread's arena instead, and a freed top of up to
twice the threshold stays there. The web servers answer each connection on a thread of its
own, and glibc gives threads up to eight arenas a core: a sign-in on each kept 19 to 38 MiB
more. `make run` grew from 125 MB to 306 MB over one school's sign-ups (bench.memory), 413
MB after a quarter of an hour of browsing. Setting the threshold ourselves (to glibc's own
default) turns its moving off: such blocks are unmapped when freed, as the first one was.
The cost is an mmap and munmap a hash (microseconds beside the hash's 50 ms).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's default; named, it no longer moves


def return_large_blocks() -> bool:
    """Fix glibc's mmap threshold for this process; False where there is no glibc (the
    threshold stays as the C library has it)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
