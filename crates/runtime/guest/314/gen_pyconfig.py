"""Write a wasm32-wasi pyconfig.h for the 3.14 guest.

usage: gen_pyconfig.py TEMPLATE_PYCONFIG_H SYSCONFIGDATA_PY OUT_H

componentize-py ships libpython3.14.so and its stdlib but no headers. The
headers come from Debian's libpython3.14-dev, whose pyconfig.h describes
x86_64 Linux. Every define of pyconfig.h is also recorded, as configure
found it on the target, in the target's `_sysconfigdata` (`build_time_vars`).
So: walk the template's `#define NAME ...` and `/* #undef NAME */` lines and
write each with the target's value (undefined when the target has none or 0).
"""
import re
import runpy
import sys

DEFINE = re.compile(r"#define (\w+)(?: (.*))?$")
UNDEF = re.compile(r"/\* #undef (\w+) \*/$")


def main():
    template, sysconfigdata, out = sys.argv[1:4]
    target = runpy.run_path(sysconfigdata)["build_time_vars"]
    lines = []
    with open(template) as f:
        for raw in f:
            line = raw.rstrip("\n")
            m = DEFINE.match(line) or UNDEF.match(line)
            if not m or m.group(1) == "Py_PYCONFIG_H":
                lines.append(line)
                continue
            name = m.group(1)
            value = target.get(name, 0)
            if value in (0, ""):
                lines.append(f"/* #undef {name} */")
                continue
            old = m.group(2) if m.re is DEFINE else None
            if isinstance(value, str) and old and old.startswith('"') and not value.startswith('"'):
                value = f'"{value}"'  # sysconfig strips the quotes of string defines
            lines.append(f"#define {name} {value}")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


main()
