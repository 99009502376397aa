"""Reading a tree's Kconfig files and a .config, and proving requested options landed.

Kconfig silently drops what it cannot satisfy, so after ``olddefconfig`` every requested
option is compared with the final .config.  A mismatch names the option, what was asked,
what Kconfig produced and the likely reason (undefined symbol, unmet dependency, no prompt).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.kernel.fragments import Request

_CONFIG_LINE = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_UNSET_LINE = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_SYMBOL = re.compile(r"\b([A-Z0-9_]+[A-Z_][A-Z0-9_]*)\b")
_HINTS_FILE = Path(__file__).with_name("hints.toml")


def read_config(path: Path) -> dict[str, str]:
    """A .config as {CONFIG_X: value}; 'is not set' lines become 'n'."""
    values: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = _CONFIG_LINE.match(line)
        if m:
            values[m.group(1)] = m.group(2)
            continue
        m = _UNSET_LINE.match(line)
        if m:
            values[m.group(1)] = "n"
    return values


@dataclass
class Symbol:
    name: str  # without CONFIG_
    locations: list[str] = field(default_factory=list)
    depends: list[str] = field(default_factory=list)
    has_prompt: bool = False
    selected_by: list[str] = field(default_factory=list)


def scan_kconfig(tree: Path) -> dict[str, Symbol]:
    """Index every ``config``/``menuconfig`` symbol of the tree with its dependencies.

    This is a reading aid for error messages, not a Kconfig implementation: it records
    ``depends on`` lines, enclosing ``if`` blocks, prompts and reverse selects.
    """
    symbols: dict[str, Symbol] = {}
    files = [p for p in tree.rglob("Kconfig*") if p.is_file() and ".git" not in p.parts]
    for path in sorted(files):
        rel = path.relative_to(tree)
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        if_stack: list[str] = []
        current: Symbol | None = None
        for n, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            head, _, rest = line.partition(" ")
            rest = rest.strip()
            if head in ("config", "menuconfig") and rest:
                current = symbols.setdefault(rest, Symbol(rest))
                current.locations.append(f"{rel}:{n}")
                current.depends.extend(if_stack)
                continue
            if head == "if" and not raw.startswith((" ", "\t")):
                if_stack.append(rest)
                current = None
                continue
            if head == "endif":
                if if_stack:
                    if_stack.pop()
                current = None
                continue
            if head in ("menu", "choice", "endmenu", "endchoice", "source", "comment", "mainmenu"):
                current = None
                continue
            if current is None:
                continue
            if line.startswith("depends on"):
                current.depends.append(line[len("depends on") :].strip())
            elif head in ("bool", "tristate", "string", "int", "hex", "prompt") and '"' in rest:
                current.has_prompt = True
            elif head in ("def_bool", "def_tristate"):
                pass
            elif head in ("select", "imply"):
                target = rest.split()[0] if rest else ""
                if target:
                    symbols.setdefault(target, Symbol(target)).selected_by.append(current.name)
    return {k: v for k, v in symbols.items() if v.locations}


def load_hints(path: Path = _HINTS_FILE) -> dict[str, str]:
    """Per-symbol explanations for options that commonly fail (data file hints.toml)."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    hints = data.get("hints", {})
    return {str(k): str(v) for k, v in hints.items()}


@dataclass(frozen=True)
class Mismatch:
    request: Request
    actual: str | None  # None: the symbol is absent from .config
    reason: str

    def describe(self) -> str:
        got = (
            "absent"
            if self.actual is None
            else ("is not set" if self.actual == "n" else f"={self.actual}")
        )
        want = "is not set" if self.request.value == "n" else f"={self.request.value}"
        return (
            f"{self.request.symbol}: requested {want} ({self.request.source}), "
            f"got {got}: {self.reason}"
        )


def _values_equal(want: str, got: str | None) -> bool:
    if want == "n":
        return got is None or got == "n"
    return got == want


def _dep_state(expr: str, final: dict[str, str]) -> str:
    names = sorted(set(_SYMBOL.findall(expr)) - {"y", "n", "m"})
    parts = [f"{n}={final.get('CONFIG_' + n, 'n')}" for n in names]
    return f"{expr} [{', '.join(parts)}]" if parts else expr


def explain(
    req: Request,
    actual: str | None,
    symbols: dict[str, Symbol],
    final: dict[str, str],
    hints: dict[str, str],
) -> str:
    """The likely reason why Kconfig did not give ``req``."""
    name = req.symbol.removeprefix("CONFIG_")
    hint = hints.get(req.symbol) or hints.get(name)
    sym = symbols.get(name)
    if sym is None:
        msg = f"{req.symbol} is not defined in this tree"
        return f"{msg}: {hint}" if hint else msg + " (no Kconfig file declares it)"
    reasons: list[str] = []
    if req.value in ("y", "m"):
        unmet = [d for d in sym.depends if _unmet(d, final)]
        if unmet:
            reasons.append("unmet dependency: " + "; ".join(_dep_state(d, final) for d in unmet))
        if req.value == "m" and final.get("CONFIG_MODULES", "n") != "y":
            reasons.append("modules are disabled (CONFIG_MODULES is not set)")
        if not sym.has_prompt and not reasons:
            sel = ", ".join(sym.selected_by[:5]) or "nothing"
            reasons.append(f"it has no prompt and can only be selected (selected by: {sel})")
    elif req.value == "n" and sym.selected_by:
        on = [s for s in sym.selected_by if final.get("CONFIG_" + s) in ("y", "m")]
        if on:
            reasons.append("it is selected by " + ", ".join(on))
    if not reasons:
        reasons.append("Kconfig chose another value (a choice, a range or a default overrides it)")
    text = "; ".join(reasons) + f" (declared at {sym.locations[0]})"
    return f"{text}; {hint}" if hint else text


def _unmet(expr: str, final: dict[str, str]) -> bool:
    """Best-effort evaluation of a dependency expression against the final config."""
    py = expr
    py = re.sub(r"&&", " and ", py)
    py = re.sub(r"\|\|", " or ", py)
    py = re.sub(r"!(?!=)", " not ", py)

    def sym_value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in ("y", "m"):
            return "True"
        if name == "n":
            return "False"
        return "True" if final.get("CONFIG_" + name, "n") in ("y", "m") else "False"

    py = re.sub(
        r"\b([A-Za-z0-9_]+)\b(?!\s*[!=]=)",
        lambda m: m.group(0) if m.group(1) in ("and", "or", "not") else sym_value(m),
        py,
    )
    if "=" in py or '"' in py:
        return False  # comparisons: do not guess
    try:
        return not bool(eval(py, {"__builtins__": {}}, {}))  # noqa: S307 - only True/False/ops
    except Exception:
        return False


def verify(
    requests: dict[str, Request],
    config_path: Path,
    tree: Path,
    symbols: dict[str, Symbol] | None = None,
) -> list[Mismatch]:
    """Every requested option that the final .config does not have as asked."""
    final = read_config(config_path)
    bad = [r for r in requests.values() if not _values_equal(r.value, final.get(r.symbol))]
    if not bad:
        return []
    symbols = scan_kconfig(tree) if symbols is None else symbols
    hints = load_hints()
    return [
        Mismatch(r, final.get(r.symbol), explain(r, final.get(r.symbol), symbols, final, hints))
        for r in bad
    ]
