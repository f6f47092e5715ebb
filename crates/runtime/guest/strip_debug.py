"""Drop DWARF (`.debug_*` custom sections) from a wasm module, keeping the
`name` section so that trap backtraces show C function names.

zig's linker can only strip everything (debug info and names together), so
scripts/build-guest links with DWARF and strips it here.
Usage: python strip_debug.py IN.wasm OUT.wasm
"""
import sys


def uleb(buf, i):
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def main(src, dst):
    data = open(src, "rb").read()
    if data[:8] != b"\0asm\1\0\0\0":
        sys.exit(f"{src}: not a wasm module")
    out = bytearray(data[:8])
    i = 8
    while i < len(data):
        section_id = data[i]
        size, body = uleb(data, i + 1)
        end = body + size
        keep = True
        if section_id == 0:
            name_len, name_at = uleb(data, body)
            keep = not data[name_at:name_at + name_len].startswith(b".debug")
        if keep:
            out += data[i:end]
        i = end
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
