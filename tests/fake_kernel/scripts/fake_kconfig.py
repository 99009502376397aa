"""A toy Kconfig for pgo-orch's fake kernel tree: allno, def, old, merge."""

import re
import sys


def parse_kconfig(path):
    syms, cur = {}, None
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        s = line.strip()
        if s.startswith("config "):
            cur = s.split()[1]
            syms[cur] = {"type": "bool", "default": None, "depends": [], "select": []}
        elif cur and s.split(" ")[0] in ("bool", "int", "string"):
            syms[cur]["type"] = s.split(" ")[0]
        elif cur and s.startswith("default "):
            syms[cur]["default"] = s[len("default ") :]
        elif cur and s.startswith("depends on "):
            syms[cur]["depends"] += re.findall(r"[A-Z0-9_]+", s[len("depends on ") :])
        elif cur and s.startswith("select "):
            syms[cur]["select"].append(s.split()[1])
    return syms


def read(path):
    vals = {}
    try:
        with open(path) as f:
            lines = f.readlines()
        for line in lines:
            m = re.match(r"^CONFIG_(\w+)=(.*)$", line.strip())
            if m:
                vals[m.group(1)] = m.group(2)
            m = re.match(r"^# CONFIG_(\w+) is not set$", line.strip())
            if m:
                vals[m.group(1)] = "n"
    except FileNotFoundError:
        pass
    return vals


def write(path, syms, vals):
    with open(path, "w") as f:
        f.write("# fake kernel config\n")
        for name, s in syms.items():
            v = vals.get(name, "n")
            if s["type"] == "bool" and v == "n":
                f.write(f"# CONFIG_{name} is not set\n")
            elif v != "n":
                f.write(f"CONFIG_{name}={v}\n")


def resolve(syms, vals, use_defaults):
    out = {}
    for name, s in syms.items():
        v = vals.get(name)
        if v is None and use_defaults and s["default"] is not None:
            v = s["default"]
        if v is None:
            v = "n" if s["type"] == "bool" else (s["default"] or "n")
        if any(out.get(d, "n") != "y" for d in s["depends"]):
            v = "n" if s["type"] == "bool" else v
        out[name] = v
    for name, s in syms.items():
        if out.get(name) == "y":
            for t in s["select"]:
                out[t] = "y"
    return out


def main():
    if sys.argv[1] == "merge":
        vals = read(sys.argv[3])
        vals.update(read(sys.argv[2]))
        with open(sys.argv[3], "w") as f:
            for k, v in vals.items():
                f.write(f"# CONFIG_{k} is not set\n" if v == "n" else f"CONFIG_{k}={v}\n")
        return
    kconfig, config, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    syms = parse_kconfig(kconfig)
    if mode == "allno":
        vals = {k: ("n" if s["type"] == "bool" else s["default"] or "n") for k, s in syms.items()}
        vals["64BIT"] = "y"
    elif mode == "def":
        vals = resolve(syms, {}, True)
    else:
        vals = resolve(syms, read(config), True)
    write(config, syms, vals)


main()
