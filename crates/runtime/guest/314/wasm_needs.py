"""Print the symbols a dylink.0 shared library needs from the module it is linked into.

usage: wasm_needs.py LIB.so

One name per line, sorted: every `env` function import and every `GOT.mem` /
`GOT.func` import the library does not define itself (it imports the GOT
entries of its own exported symbols too). scripts/build-guest-314 passes them to wasm-ld as `-u` and
`--export-if-defined`, so the PIC main module defines and exports them.
"""
import sys


def uleb(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def name(data, i):
    n, i = uleb(data, i)
    return data[i : i + n].decode(), i + n


def skip_limits(data, i):
    flags = data[i]
    _, i = uleb(data, i + 1)
    if flags & 1:
        _, i = uleb(data, i)
    return i


def sections(data):
    if data[:4] != b"\0asm":
        raise SystemExit("not a wasm module")
    i = 8
    while i < len(data):
        section = data[i]
        size, i = uleb(data, i + 1)
        yield section, i
        i += size


def exports(data):
    for section, i in sections(data):
        if section == 7:
            count, j = uleb(data, i)
            for _ in range(count):
                field, j = name(data, j)
                _, j = uleb(data, j + 1)
                yield field


def imports(data):
    for section, i in sections(data):
        if section == 2:
            count, j = uleb(data, i)
            for _ in range(count):
                module, j = name(data, j)
                field, j = name(data, j)
                kind = data[j]
                j += 1
                if kind == 0:  # func: type index
                    _, j = uleb(data, j)
                elif kind == 1:  # table: reftype + limits
                    j = skip_limits(data, j + 1)
                elif kind == 2:  # memory
                    j = skip_limits(data, j)
                elif kind == 3:  # global: valtype + mutability
                    j += 2
                elif kind == 4:  # tag: attribute + type index
                    _, j = uleb(data, j + 1)
                else:
                    raise SystemExit(f"unknown import kind {kind}")
                yield module, field, kind


def main():
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    defined = set(exports(data))
    needs = set()
    for module, field, kind in imports(data):
        if (module == "env" and kind == 0) or module in ("GOT.mem", "GOT.func"):
            if field not in defined:
                needs.add(field)
    for symbol in sorted(needs):
        print(symbol)


main()
