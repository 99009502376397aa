"""LLVM raw profile (``.profraw``) header reader and consistency checks.

Layout (raw format version 5-8, 64-bit): magic ``0xff6c70726f667281``, version (low bits; bit
56 marks IR-level instrumentation), then BinaryIdsSize (v7+), DataSize (records),
PaddingBytesBeforeCounters, CountersSize (counters), PaddingBytesAfterCounters, NamesSize
(bytes), CountersDelta, NamesDelta, ValueKindLast. The file must at least hold the header,
binary ids, data records, counters and names the header announces.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC64 = 0xFF6C70726F667281
VARIANT_MASK_IR_PROF = 1 << 56
VERSION_MASK = 0x00FFFFFFFFFFFFFF
SUPPORTED_VERSIONS = range(5, 9)


class ProfileFormatError(ValueError):
    """The file is not a raw profile pgo-orch can read (the message says why)."""


@dataclass(frozen=True)
class RawHeader:
    version: int
    ir_level: bool
    binary_ids_size: int
    data_records: int
    padding_before_counters: int
    counters: int
    padding_after_counters: int
    names_size: int
    counters_delta: int
    names_delta: int
    value_kind_last: int
    header_size: int
    file_size: int

    @property
    def data_record_size(self) -> int:
        # NameRef, FuncHash, CounterPtr, FunctionPointer, Values (8 each), NumCounters (4),
        # NumValueSites[ValueKindLast + 1] (2 each), padded to 8 bytes
        size = 5 * 8 + 4 + 2 * (self.value_kind_last + 1)
        return (size + 7) // 8 * 8

    @property
    def minimum_size(self) -> int:
        names = (self.names_size + 7) // 8 * 8
        return (self.header_size + self.binary_ids_size
                + self.data_records * self.data_record_size + self.padding_before_counters
                + self.counters * 8 + self.padding_after_counters + names)

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["minimum_size"] = self.minimum_size
        return d


def read_header(path: Path) -> RawHeader:
    """Parse and check the header of ``path``; ProfileFormatError says what is wrong."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(11 * 8)
    except OSError as exc:
        raise ProfileFormatError(f"cannot read {path}: {exc.strerror}") from exc
    if len(head) < 16:
        raise ProfileFormatError(f"{size} bytes: too short for a raw profile header")
    magic, version_word = struct.unpack_from("<QQ", head)
    if magic != MAGIC64:
        raise ProfileFormatError(f"bad magic {magic:#018x} (expected {MAGIC64:#018x})")
    version = version_word & VERSION_MASK & 0xFFFFFFFF
    if version not in SUPPORTED_VERSIONS:
        raise ProfileFormatError(f"unsupported raw profile version {version}")
    words = 11 if version >= 7 else 10
    if len(head) < words * 8:
        raise ProfileFormatError(f"{size} bytes: header truncated (version {version} needs "
                                 f"{words * 8})")
    vals = list(struct.unpack_from(f"<{words}Q", head))
    if version < 7:
        vals.insert(2, 0)  # no binary ids before version 7
    hdr = RawHeader(version, bool(version_word & VARIANT_MASK_IR_PROF), vals[2], vals[3],
                    vals[4], vals[5], vals[6], vals[7], vals[8], vals[9], vals[10],
                    words * 8, size)
    if hdr.value_kind_last > 16:
        raise ProfileFormatError(f"implausible value kind count {hdr.value_kind_last}")
    if hdr.data_records == 0 or hdr.counters == 0:
        # what an instrumented kernel that never ran (or a zero-filled file) gives; llvm-profdata
        # merges it happily into an empty profile that would silently disable PGO
        raise ProfileFormatError(f"empty profile: the header announces {hdr.data_records} "
                                 f"functions and {hdr.counters} counters")
    if size < hdr.minimum_size:
        raise ProfileFormatError(f"truncated: {size} bytes, the header announces at least "
                                 f"{hdr.minimum_size}")
    return hdr
