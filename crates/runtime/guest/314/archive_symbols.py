"""Print the global symbols defined in static archives (the GNU `ar` symbol index).

usage: archive_symbols.py LIB.a...

One name per line, sorted and deduplicated. scripts/build-guest-314 exports every one of zig's
wasi-libc symbols from main.so, so native extension modules linked into a project's guest later
find whatever libc function they import (the link happens on the user's machine, without a C
toolchain, so main.so must already hold them).
"""
import struct
import sys


def symbols(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"!<arch>\n":
        sys.exit("%s: not an ar archive" % path)
    # The first member, named "/", is the symbol index: a big-endian count, that many member
    # offsets, then that many NUL-terminated names.
    name = data[8:24].rstrip()
    size = int(data[56:66])
    if name != b"/":
        sys.exit("%s: no GNU symbol index (first member is %r)" % (path, name))
    index = data[68 : 68 + size]
    (count,) = struct.unpack(">I", index[:4])
    names = index[4 + 4 * count :].split(b"\0")[:count]
    return {n.decode() for n in names}


def main():
    found = set()
    for path in sys.argv[1:]:
        found |= symbols(path)
    sys.stdout.write("".join(n + "\n" for n in sorted(found)))


if __name__ == "__main__":
    main()
