"""Load and validate the report catalogue (``catalogue.toml``) into dataclasses.

The TOML format is documented at the top of ``catalogue.toml``.  A malformed catalogue
raises :class:`CatalogueError` (an :class:`~orchestrator.errors.InvalidInput`) that names
the file, the entry and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput

__all__ = ["Catalogue", "CatalogueError", "ReportClass", "default_catalogue", "load_catalogue"]

DEFAULT_PATH = Path(__file__).with_name("catalogue.toml")

_EXTRACTORS = {"stall", "hung"}
_BUILTIN_SOURCES = {"rip", "caller", "trace", "task", "header"}


class CatalogueError(InvalidInput):
    """The catalogue file is malformed."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        super().__init__(message, path=path, field=field, reason="bad-catalogue")


@dataclass(frozen=True)
class ReportClass:
    """One catalogue entry (see ``catalogue.toml`` for the meaning of each field)."""

    id: str
    klass: str
    keywords: tuple[str, ...]
    header: re.Pattern[str]
    title: str
    stack: tuple[str, ...] = ()
    stack_fallback: tuple[str, ...] = ()
    use_header_func: bool = False
    skip_frames: re.Pattern[str] | None = None
    extractor: str | None = None
    anchors: re.Pattern[str] | None = None
    fields: tuple[tuple[str, re.Pattern[str]], ...] = ()
    sanitize: frozenset[str] = frozenset()
    needs_trace: bool = True
    fatal: bool = False
    end: tuple[re.Pattern[str], ...] = ()
    end_on_trace_close: bool = True
    body: re.Pattern[str] | None = None
    interrupts: bool = True
    merge_next: frozenset[str] = frozenset()
    cross_cpu_after: re.Pattern[str] | None = None
    cause: bool = False
    max_lines: int | None = None
    false_positives: tuple[re.Pattern[str], ...] = ()
    rip_is_target: re.Pattern[str] | None = None
    skip_families: tuple[str, ...] = ()  # opt-in families this class applies
    values: tuple[tuple[str, tuple[tuple[re.Pattern[str], str], ...]], ...] = ()


@dataclass(frozen=True)
class Catalogue:
    """The whole catalogue: global settings plus the ordered report classes."""

    classes: tuple[ReportClass, ...]
    false_positives: re.Pattern[str] | None
    skip_frames: re.Pattern[str]
    frame_suffix: re.Pattern[str]
    syscall_prefixes: tuple[str, ...]
    end: re.Pattern[str]
    trailer: re.Pattern[str]
    trace_noise: re.Pattern[str]
    trace_start: re.Pattern[str]
    sources: dict[str, re.Pattern[str]] = field(default_factory=dict)
    stall_anchors: re.Pattern[str] | None = None
    hung_anchors: tuple[tuple[str, str], ...] = ()
    hung_skip: re.Pattern[str] | None = None
    frameless: re.Pattern[str] | None = None
    irq_entry: re.Pattern[str] | None = None
    path: str = ""
    #: every skip family by name (the always-on ones are also combined in ``skip_frames``)
    families: dict[str, re.Pattern[str]] = field(default_factory=dict)
    opt_in_families: frozenset[str] = frozenset()
    #: families of reporting code: a RIP in one is never blamed (rule 3c)
    reporter_families: frozenset[str] = frozenset()

    def is_reporter(self, func: str) -> bool:
        """``func`` is reporting machinery (a checker, dumper, trap handler), never the bug."""
        return any(self.families[n].fullmatch(func) for n in self.reporter_families)

    def skip_rule(self, func: str, rc: ReportClass) -> str | None:
        """Why ``func`` is never blamed in a report of ``rc`` (``"family NAME"`` or
        ``"class ID"``), or ``None`` when it may be blamed."""
        if self.skip_frames.fullmatch(func):
            for name, pat in self.families.items():
                if name not in self.opt_in_families and pat.fullmatch(func):
                    return f"family {name}"
        for name in rc.skip_families:
            if self.families[name].fullmatch(func):
                return f"family {name}"
        if rc.skip_frames is not None and rc.skip_frames.fullmatch(func):
            return f"class {rc.id}"
        return None

    def by_id(self, class_id: str) -> ReportClass:
        for rc in self.classes:
            if rc.id == class_id:
                return rc
        raise KeyError(class_id)

    @property
    def klasses(self) -> list[str]:
        seen: dict[str, None] = {}
        for rc in self.classes:
            seen.setdefault(rc.klass, None)
        return list(seen)


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> CatalogueError:
        return CatalogueError(message, path=self.path, field=where)

    def regex(self, where: str, value: object) -> re.Pattern[str]:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a regex string, got {type(value).__name__}")
        try:
            return re.compile(value)
        except re.error as exc:
            raise self.fail(where, f"bad regex {value!r}: {exc}") from exc

    def str_list(self, where: str, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of strings")
        return list(value)

    def combined(self, where: str, value: object, *, full: bool = False) -> re.Pattern[str]:
        items = self.str_list(where, value)
        for i, item in enumerate(items):
            self.regex(f"{where}[{i}]", item)
        if not items:
            return re.compile(r"(?!x)x")
        body = "|".join(f"(?:{item})" for item in items)
        try:
            return re.compile(f"(?:{body})")
        except re.error as exc:
            raise self.fail(where, f"patterns do not combine: {exc}") from exc

    def boolean(self, where: str, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, "expected true or false")
        return value


_CLASS_KEYS = {
    "id", "klass", "keywords", "header", "title", "stack", "stack_fallback", "use_header_func",
    "skip_frames", "extractor", "anchors", "fields", "sanitize", "needs_trace", "fatal", "end",
    "end_on_trace_close", "body", "interrupts", "merge_next", "cross_cpu_after", "cause",
    "max_lines", "false_positives", "rip_is_target", "skip_families", "values",
}  # fmt: skip


def _parse_class(
    r: _Reader,
    idx: int,
    raw: object,
    sources: dict[str, re.Pattern[str]],
    opt_in: frozenset[str] = frozenset(),
) -> ReportClass:
    where = f"class[{idx}]"
    if not isinstance(raw, dict):
        raise r.fail(where, "expected a table")
    d: dict[str, Any] = raw
    cid = d.get("id")
    if not isinstance(cid, str) or not cid:
        raise r.fail(f"{where}.id", "missing or empty id")
    where = f"class {cid!r}"
    unknown = set(d) - _CLASS_KEYS
    if unknown:
        raise r.fail(where, f"unknown keys: {', '.join(sorted(unknown))}")
    for req in ("keywords", "header", "title"):
        if req not in d:
            raise r.fail(f"{where}.{req}", "required")
    keywords = r.str_list(f"{where}.keywords", d["keywords"])
    if not keywords or any(not k for k in keywords):
        raise r.fail(f"{where}.keywords", "need at least one non-empty keyword")
    title = d["title"]
    if not isinstance(title, str) or not title:
        raise r.fail(f"{where}.title", "expected a non-empty string")
    header = r.regex(f"{where}.header", d["header"])

    def stack_list(key: str) -> tuple[str, ...]:
        items = r.str_list(f"{where}.{key}", d.get(key, []))
        for item in items:
            if item.startswith("after:"):
                r.regex(f"{where}.{key}", item[len("after:") :])
            elif item not in _BUILTIN_SOURCES and item not in sources:
                raise r.fail(f"{where}.{key}", f"unknown stack source {item!r}")
        return tuple(items)

    fields_raw = d.get("fields", {})
    if not isinstance(fields_raw, dict):
        raise r.fail(f"{where}.fields", "expected a table of name = regex")
    fields = tuple((str(k), r.regex(f"{where}.fields.{k}", v)) for k, v in fields_raw.items())
    placeholders = set(re.findall(r"\{(\w+)\}", title))
    known = set(header.groupindex) | {k for k, _ in fields} | {"func"}
    missing = placeholders - known
    if missing:
        raise r.fail(
            f"{where}.title", f"placeholders without a source: {', '.join(sorted(missing))}"
        )
    extractor = d.get("extractor")
    if extractor is not None and extractor not in _EXTRACTORS:
        raise r.fail(f"{where}.extractor", f"expected one of {sorted(_EXTRACTORS)}")
    max_lines = d.get("max_lines")
    if max_lines is not None and (not isinstance(max_lines, int) or max_lines < 1):
        raise r.fail(f"{where}.max_lines", "expected a positive integer")
    skip = r.str_list(f"{where}.skip_frames", d.get("skip_frames", []))
    anchors = r.str_list(f"{where}.anchors", d.get("anchors", []))
    families = r.str_list(f"{where}.skip_families", d.get("skip_families", []))
    bad = set(families) - opt_in
    if bad:
        raise r.fail(f"{where}.skip_families", f"not an opt-in family: {', '.join(sorted(bad))}")
    values_raw = d.get("values", {})
    if not isinstance(values_raw, dict):
        raise r.fail(f"{where}.values", "expected a table of name = [[regex, value], ...]")
    values: list[tuple[str, tuple[tuple[re.Pattern[str], str], ...]]] = []
    for name, pairs in values_raw.items():
        vw = f"{where}.values.{name}"
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in pairs
        ):
            raise r.fail(vw, "expected a list of [regex, value] pairs")
        values.append((str(name), tuple((r.regex(vw, p[0]), p[1]) for p in pairs)))
    return ReportClass(
        values=tuple(values),
        skip_families=tuple(families),
        id=cid,
        klass=str(d.get("klass", cid)),
        keywords=tuple(keywords),
        header=header,
        title=title,
        stack=stack_list("stack"),
        stack_fallback=stack_list("stack_fallback"),
        use_header_func=r.boolean(f"{where}.use_header_func", d.get("use_header_func", False)),
        skip_frames=r.combined(f"{where}.skip_frames", skip) if skip else None,
        extractor=extractor,
        anchors=r.combined(f"{where}.anchors", anchors) if anchors else None,
        fields=fields,
        sanitize=frozenset(r.str_list(f"{where}.sanitize", d.get("sanitize", []))),
        needs_trace=r.boolean(f"{where}.needs_trace", d.get("needs_trace", True)),
        fatal=r.boolean(f"{where}.fatal", d.get("fatal", False)),
        end=tuple(r.regex(f"{where}.end", e) for e in r.str_list(f"{where}.end", d.get("end", []))),
        end_on_trace_close=r.boolean(
            f"{where}.end_on_trace_close", d.get("end_on_trace_close", True)
        ),
        body=r.regex(f"{where}.body", d["body"]) if "body" in d else None,
        interrupts=r.boolean(f"{where}.interrupts", d.get("interrupts", True)),
        merge_next=frozenset(r.str_list(f"{where}.merge_next", d.get("merge_next", []))),
        cross_cpu_after=(
            r.regex(f"{where}.cross_cpu_after", d["cross_cpu_after"])
            if "cross_cpu_after" in d
            else None
        ),
        cause=r.boolean(f"{where}.cause", d.get("cause", False)),
        max_lines=max_lines,
        false_positives=tuple(
            r.regex(f"{where}.false_positives", e)
            for e in r.str_list(f"{where}.false_positives", d.get("false_positives", []))
        ),
        rip_is_target=(
            r.regex(f"{where}.rip_is_target", d["rip_is_target"]) if "rip_is_target" in d else None
        ),
    )


def parse_catalogue(data: dict[str, Any], path: str = "<catalogue>") -> Catalogue:
    """Validate an already-parsed TOML document."""
    r = _Reader(path)
    if data.get("version") != 1:
        raise r.fail("version", "expected version = 1")
    g = data.get("global")
    if not isinstance(g, dict):
        raise r.fail("global", "missing [global] table")
    sources_raw = g.get("sources", {})
    if not isinstance(sources_raw, dict):
        raise r.fail("global.sources", "expected a table")
    sources: dict[str, re.Pattern[str]] = {}
    for name, rx in sources_raw.items():
        pat = r.regex(f"global.sources.{name}", rx)
        if "frame" not in pat.groupindex:
            raise r.fail(f"global.sources.{name}", "regex needs a (?P<frame>...) group")
        sources[str(name)] = pat
    classes_raw = data.get("class")
    if not isinstance(classes_raw, list) or not classes_raw:
        raise r.fail("class", "need at least one [[class]] entry")
    fam_raw = g.get("skip_families", {})
    if not isinstance(fam_raw, dict):
        raise r.fail("global.skip_families", "expected a table of name = [regex, ...]")
    families = {str(k): r.combined(f"global.skip_families.{k}", v) for k, v in fam_raw.items()}
    opt_in = frozenset(r.str_list("global.opt_in_families", g.get("opt_in_families", [])))
    unknown_fam = opt_in - set(families)
    if unknown_fam:
        raise r.fail("global.opt_in_families", f"unknown family: {', '.join(sorted(unknown_fam))}")
    reporters = frozenset(r.str_list("global.reporter_families", g.get("reporter_families", [])))
    if reporters - set(families):
        raise r.fail("global.reporter_families",
                     f"unknown family: {', '.join(sorted(reporters - set(families)))}")  # fmt: skip
    classes = tuple(_parse_class(r, i, c, sources, opt_in) for i, c in enumerate(classes_raw))
    ids = [c.id for c in classes]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise r.fail("class", f"duplicate ids: {', '.join(sorted(dupes))}")
    klasses = {c.klass for c in classes}
    for c in classes:
        bad = c.merge_next - klasses
        if bad:
            raise r.fail(f"class {c.id!r}.merge_next", f"unknown klass: {', '.join(sorted(bad))}")
    skip = r.str_list("global.skip_frames", g.get("skip_frames", []))
    for i, s in enumerate(skip):
        r.regex(f"global.skip_frames[{i}]", s)
    for name, items in fam_raw.items():
        if name not in opt_in:
            skip += r.str_list(f"global.skip_families.{name}", items)
    if g.get("skip_frames"):
        families["skip_frames"] = r.combined("global.skip_frames", g["skip_frames"])
    fps = r.str_list("global.false_positives", g.get("false_positives", []))
    prefixes = r.str_list("global.syscall_prefixes", g.get("syscall_prefixes", []))
    hung_raw = g.get("hung_anchors", {})
    if not isinstance(hung_raw, dict) or not all(isinstance(v, str) for v in hung_raw.values()):
        raise r.fail("global.hung_anchors", "expected a table of name = replacement")
    stall = r.str_list("global.stall_anchors", g.get("stall_anchors", []))
    hung_skip = r.str_list("global.hung_skip", g.get("hung_skip", []))
    frameless = r.str_list("global.frameless", g.get("frameless", []))
    irq_entry = r.str_list("global.irq_entry", g.get("irq_entry", []))
    return Catalogue(
        classes=classes,
        false_positives=r.combined("global.false_positives", fps) if fps else None,
        skip_frames=r.combined("global.skip_frames", skip),
        frame_suffix=r.regex("global.frame_suffix", g.get("frame_suffix", r"(?!x)x")),
        syscall_prefixes=tuple(sorted(prefixes, key=len, reverse=True)),
        end=r.combined("global.end", g.get("end", [])),
        trailer=r.combined("global.trailer", g.get("trailer", [])),
        trace_noise=r.combined("global.trace_noise", g.get("trace_noise", [])),
        trace_start=r.regex("global.trace_start", g.get("trace_start", "Call Trace:")),
        sources=sources,
        stall_anchors=r.combined("global.stall_anchors", stall) if stall else None,
        hung_anchors=tuple((str(k), str(v)) for k, v in hung_raw.items()),
        hung_skip=r.combined("global.hung_skip", hung_skip) if hung_skip else None,
        frameless=r.combined("global.frameless", frameless) if frameless else None,
        irq_entry=r.combined("global.irq_entry", irq_entry) if irq_entry else None,
        path=path,
        families=families,
        opt_in_families=opt_in,
        reporter_families=reporters,
    )


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load a catalogue file (default: the packaged ``catalogue.toml``)."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise CatalogueError("catalogue file not found", path=str(p)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"not valid TOML: {exc}", path=str(p)) from exc
    return parse_catalogue(data, str(p))


@cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded once."""
    return load_catalogue()
