#!/usr/bin/python3
# Make a build context: N files (default 20000) of random bytes, about
# TOTAL_MB (default 100) in all, spread over 200 directories. Deterministic
# (seeded), so every run and machine gets the same bytes.
# Usage: mkcontext.py DIR [N] [TOTAL_MB]
import os
import random
import sys

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
total = int(sys.argv[3]) * 1024 * 1024 if len(sys.argv) > 3 else 100 * 1024 * 1024
rnd = random.Random(42)
avg = total // n
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 200))
    os.makedirs(sub, exist_ok=True)
    size = rnd.randint(avg // 4, avg * 7 // 4)
    with open(os.path.join(sub, "f%05d.dat" % i), "wb") as f:
        f.write(rnd.randbytes(size))
