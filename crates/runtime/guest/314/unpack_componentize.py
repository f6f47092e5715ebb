"""Take CPython 3.14's libpython and stdlib out of the componentize-py wheel.

usage: unpack_componentize.py WHEEL OUTDIR NAME=SHA256 [NAME=SHA256 ...]

componentize-py's native module embeds its WebAssembly inputs as zstd frames:
libpython3.14.so (wasm32-wasip2, a dylink.0 shared library), the wasip2 libc,
libc++, and the stdlib as a tar. Every frame is decompressed and the ones
whose sha256 matches a pinned value are written to OUTDIR/NAME. Fails when a
pinned output is not found, so a different wheel can never slip through.
Needs the `zstandard` package.
"""
import hashlib
import os
import sys
import zipfile

import zstandard

MAGIC = b"\x28\xb5\x2f\xfd"
MAX_OUTPUT = 64 << 20


def frames(blob):
    start = blob.find(MAGIC)
    while start >= 0:
        dec = zstandard.ZstdDecompressor().decompressobj()
        try:
            out = dec.decompress(blob[start : start + MAX_OUTPUT])
        except zstandard.ZstdError:
            out = None
        if out is not None and dec.eof:
            yield out
        start = blob.find(MAGIC, start + 1)


def main():
    wheel, outdir = sys.argv[1], sys.argv[2]
    wanted = dict(arg.split("=", 1) for arg in sys.argv[3:])
    by_hash = {sha: name for name, sha in wanted.items()}
    with zipfile.ZipFile(wheel) as zf:
        native = [n for n in zf.namelist() if n.endswith(".so")]
        if len(native) != 1:
            raise SystemExit(f"{wheel}: expected one native module, found {native}")
        blob = zf.read(native[0])
    os.makedirs(outdir, exist_ok=True)
    found = set()
    for out in frames(blob):
        name = by_hash.get(hashlib.sha256(out).hexdigest())
        if name and name not in found:
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(out)
            found.add(name)
    missing = sorted(set(wanted) - found)
    if missing:
        raise SystemExit(f"{wheel}: no embedded file with the pinned sha256 for {missing}")


main()
