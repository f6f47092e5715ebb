"""A stand-in for the Pyodide interpreter a Python Worker runs on, for uv.

uv learns an interpreter's markers and wheel tags by running
`python -I -B -c <query>` (or, in some versions, the query script's path). This answers that query as the Pyodide runtime
would: `sys.platform` "emscripten", Emscripten's uname, the target Python
version, and the PEP 783 platform version in sysconfig, from which uv derives
`pyemscripten_<year>_<n>_wasm32` tags. `sys.executable` is the `python3.X` script
beside this file. Everything else is the host CPython that runs this file,
which is also what uv's build environments use (`sys._base_executable`, as
with `--python-platform`). Any other use is refused: this is not a Python to run
code with.

pywrangler-rs writes this file (with TARGET filled in) into its cache and hands
its path to uv with `--python`; see src/sync/interpreter.rs.
"""

import sys

# pywrangler-rs replaces this line with the target, e.g.
# {"python": [3, 14, 2], "platform_version": "2026_0", "emscripten": "5.0.3"}
TARGET = None

FLAGS = set("IBEsSuP")


def parse_args(argv):
    """Split uv's command line: `[flags] -c CODE [args]` or `[flags] SCRIPT [args]`.

    Returns (kind, value, args, isolated) or None for anything else.
    """
    isolated = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-c" and i + 1 < len(argv):
            return "code", argv[i + 1], argv[i + 2 :], isolated
        if arg in ("-V", "--version"):
            return "version", None, [], isolated
        if arg.startswith("-") and len(arg) > 1 and set(arg[1:]) <= FLAGS:
            isolated = isolated or "I" in arg or "P" in arg
            i += 1
            continue
        if not arg.startswith("-") and arg.endswith(".py"):
            return "script", arg, argv[i + 1 :], isolated
        return None
    return None


def describe_target(target):
    import collections
    import importlib.machinery
    import os
    import platform
    import sysconfig

    # sysconfig reads per-platform data lazily; load the host's before
    # sys.platform changes so paths and config vars stay answerable.
    sysconfig.get_config_vars()
    sysconfig.get_paths()

    major, minor, micro = target["python"]
    version_info = collections.namedtuple(
        "version_info", "major minor micro releaselevel serial"
    )(major, minor, micro, "final", 0)
    full = "%d.%d.%d" % (major, minor, micro)
    emscripten = target["emscripten"]
    soabi = "cpython-%d%d-wasm32-emscripten" % (major, minor)

    # uv reports this path; builds use sys._base_executable, the host CPython.
    sys.executable = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "python%d.%d" % (major, minor)
    )
    sys.version_info = version_info
    sys.implementation.version = version_info
    sys.implementation.cache_tag = "cpython-%d%d" % (major, minor)
    sys.platform = "emscripten"
    importlib.machinery.EXTENSION_SUFFIXES[:] = [
        "." + soabi + ".so",
        ".abi3.so",
        ".so",
    ]

    platform.system = lambda: "Emscripten"
    platform.machine = lambda: "wasm32"
    platform.release = lambda: emscripten
    platform.version = lambda: "#1"
    platform.python_version = lambda: full
    platform.python_version_tuple = lambda: (str(major), str(minor), str(micro))

    config = {
        "PYEMSCRIPTEN_PLATFORM_VERSION": target["platform_version"],
        "PYODIDE_ABI_VERSION": target["platform_version"],
        "SOABI": soabi,
        "EXT_SUFFIX": "." + soabi + ".so",
        "MULTIARCH": "wasm32-emscripten",
        "HOST_GNU_TYPE": "wasm32-unknown-emscripten",
    }
    host_config_var = sysconfig.get_config_var
    sysconfig.get_config_var = lambda name: (
        config[name] if name in config else host_config_var(name)
    )
    sysconfig.get_platform = lambda: "emscripten-%s-wasm32" % emscripten


def main():
    parsed = parse_args(sys.argv[1:])
    if parsed is None or TARGET is None:
        sys.stderr.write(
            "this is pywrangler-rs's description of the Pyodide platform for uv "
            "(it only answers uv's interpreter query); run Python code with a real "
            "interpreter\n"
        )
        return 2
    kind, value, rest, isolated = parsed
    if kind == "version":
        print("Python %d.%d.%d" % tuple(TARGET["python"]))
        return 0
    describe_target(TARGET)
    if kind == "code":
        sys.argv = ["-c"] + list(rest)
        namespace = {"__name__": "__main__", "__builtins__": __builtins__}
        exec(compile(value, "<string>", "exec"), namespace)
    else:
        import os
        import runpy

        sys.argv = [value] + list(rest)
        if not isolated:
            sys.path.insert(0, os.path.dirname(os.path.abspath(value)))
        runpy.run_path(value, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
