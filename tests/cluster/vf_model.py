#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""vf_model.py FILE [OPS] [SEED] - random reads, writes, truncates and reopens of FILE (through
/vmfs) against an in-memory model: every read and, at the end, the whole file must equal the
model. Writes go through several descriptors (buffered, O_DIRECT with aligned buffers, and
O_APPEND); truncates through ftruncate and truncate(2) by name. Prints "ops=N size=N ok" or
the first mismatch (exit 1)."""
import mmap
import os
import random
import sys

ALIGN = 4096
MAX = 8 << 20


def aligned(n):
    buf = mmap.mmap(-1, max(n, ALIGN))
    return buf


def main():
    path = sys.argv[1]
    ops = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    model = bytearray()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    dfd = os.open(path, os.O_RDWR | os.O_DIRECT)
    for i in range(ops):
        op = rnd.random()
        if op < 0.35:  # buffered pwrite
            off = rnd.randrange(0, MAX)
            data = rnd.randbytes(rnd.randrange(1, 200000))
            os.pwrite(fd, data, off)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off:off + len(data)] = data
        elif op < 0.5:  # O_DIRECT pwrite, aligned
            off = rnd.randrange(0, MAX // ALIGN) * ALIGN
            n = rnd.randrange(1, 64) * ALIGN
            buf = aligned(n)
            data = rnd.randbytes(n)
            buf[:n] = data
            os.pwritev(dfd, [memoryview(buf)[:n]], off)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off:off + n] = data
        elif op < 0.75:  # read and compare
            off = rnd.randrange(0, max(1, len(model) + 4096))
            n = rnd.randrange(1, 300000)
            got = os.pread(fd, n, off)
            want = bytes(model[off:off + n])
            if got != want:
                print(f"op {i}: read {n} at {off}: {len(got)} bytes differ from the model "
                      f"({len(want)} expected)")
                return 1
        elif op < 0.85:  # truncate
            size = rnd.randrange(0, MAX)
            if rnd.random() < 0.5:
                os.ftruncate(fd, size)
            else:
                os.truncate(path, size)
            if size < len(model):
                del model[size:]
            else:
                model.extend(bytes(size - len(model)))
        elif op < 0.95:  # append through another descriptor
            data = rnd.randbytes(rnd.randrange(1, 10000))
            afd = os.open(path, os.O_WRONLY | os.O_APPEND)
            os.write(afd, data)
            os.close(afd)
            model.extend(data)
        else:  # reopen
            os.close(fd)
            fd = os.open(path, os.O_RDWR)
    os.fsync(fd)
    os.close(dfd)
    os.close(fd)
    with open(path, "rb") as f:
        whole = f.read()
    if whole != bytes(model):
        print(f"final content differs from the model ({len(whole)} vs {len(model)} bytes)")
        return 1
    print(f"ops={ops} size={len(model)} ok")
    return 0


sys.exit(main())
