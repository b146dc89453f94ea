"""A GGUF v3 writer in pure Python + numpy, written from the format description.

File layout (all integers little-endian):
    magic "GGUF", version u32 = 3, n_tensors u64, n_kv u64
    n_kv times: key (u64 length + UTF-8 bytes), value type u32, value
    n_tensors times: name (string), n_dims u32, dims u64 x n_dims (ggml order: the contiguous,
        innermost dimension first, i.e. torch's shape reversed), ggml type u32, offset u64 (from
        the start of the data section; a multiple of the alignment)
    zero padding up to the alignment, then the data section (each tensor padded to the alignment).

Usage:
    w = GGUFWriter()
    w.add_string("general.architecture", "llama")
    w.add_u32("llama.block_count", 2)
    w.add_tensor("token_embd.weight", np_array_f32, GGMLType.F16)
    w.write("model.gguf")
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


class ValueType(enum.IntEnum):
    """Metadata value types (gguf_type numbering)."""
    U8 = 0
    I8 = 1
    U16 = 2
    I16 = 3
    U32 = 4
    I32 = 5
    F32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    U64 = 10
    I64 = 11
    F64 = 12


class GGMLType(enum.IntEnum):
    """Tensor element types this writer supports (ggml_type numbering)."""
    F32 = 0
    F16 = 1
    BF16 = 30


# struct format for each fixed-size scalar type.
SCALAR_FORMAT = {
    ValueType.U8: "<B", ValueType.I8: "<b", ValueType.U16: "<H", ValueType.I16: "<h",
    ValueType.U32: "<I", ValueType.I32: "<i", ValueType.F32: "<f", ValueType.BOOL: "<?",
    ValueType.U64: "<Q", ValueType.I64: "<q", ValueType.F64: "<d",
}

# numpy dtype for each fixed-size scalar type (used to pack numeric arrays in one go).
SCALAR_NUMPY = {
    ValueType.U8: "<u1", ValueType.I8: "<i1", ValueType.U16: "<u2", ValueType.I16: "<i2",
    ValueType.U32: "<u4", ValueType.I32: "<i4", ValueType.F32: "<f4", ValueType.BOOL: "<u1",
    ValueType.U64: "<u8", ValueType.I64: "<i8", ValueType.F64: "<f8",
}

BYTES_PER_ELEMENT = {GGMLType.F32: 4, GGMLType.F16: 2, GGMLType.BF16: 2}


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even like torch.

    NaNs stay NaN (quiet); infinities and values that round past the largest bf16 become inf.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        rounded[nan] = ((bits[nan] >> 16).astype(np.uint16) | 0x0040)
    return rounded


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 (exact)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_to(x: np.ndarray, ggml_type: GGMLType) -> np.ndarray:
    """x rounded to ggml_type and back to float32: what a reader of that tensor will see."""
    x = np.asarray(x, dtype=np.float32)
    if ggml_type == GGMLType.F32:
        return x.copy()
    if ggml_type == GGMLType.F16:
        return x.astype(np.float16).astype(np.float32)
    if ggml_type == GGMLType.BF16:
        return bf16_bits_to_f32(f32_to_bf16_bits(x)).reshape(x.shape)
    raise ValueError(f"unsupported ggml type {ggml_type}")


def encode_tensor(x: np.ndarray, ggml_type: GGMLType) -> bytes:
    """The little-endian bytes of x (float array, torch/C order) stored as ggml_type."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if ggml_type == GGMLType.F32:
        return x.astype("<f4").tobytes()
    if ggml_type == GGMLType.F16:
        with np.errstate(over="ignore"):
            f16 = x.astype(np.float16)
        if not np.isfinite(f16[np.isfinite(x)]).all():
            raise ValueError("value out of float16 range")
        return f16.astype("<f2").tobytes()
    if ggml_type == GGMLType.BF16:
        return f32_to_bf16_bits(x).astype("<u2").tobytes()
    raise ValueError(f"unsupported ggml type {ggml_type}")


def _pack_string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _pack_scalar(vtype: ValueType, value) -> bytes:
    if vtype == ValueType.STRING:
        return _pack_string(value)
    if vtype in (ValueType.F32, ValueType.F64):
        return struct.pack(SCALAR_FORMAT[vtype], float(value))
    if vtype == ValueType.BOOL:
        return struct.pack("<?", bool(value))
    return struct.pack(SCALAR_FORMAT[vtype], int(value))


@dataclass
class _KV:
    key: str
    vtype: ValueType
    value: object
    elem_type: ValueType | None = None  # for arrays


@dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]  # torch order
    ggml_type: GGMLType
    data: bytes


class GGUFWriter:
    """Collects metadata and tensors in insertion order, then writes one GGUF v3 file."""

    def __init__(self, alignment: int = DEFAULT_ALIGNMENT):
        if alignment <= 0 or alignment % 8 != 0:
            raise ValueError("alignment must be a positive multiple of 8")
        self.alignment = alignment
        self._kv: dict[str, _KV] = {}
        self._tensors: dict[str, _Tensor] = {}
        if alignment != DEFAULT_ALIGNMENT:
            self.add_u32("general.alignment", alignment)

    # --- metadata -------------------------------------------------------------------------
    def _add(self, kv: _KV) -> None:
        if kv.key in self._kv:
            raise ValueError(f"duplicate metadata key {kv.key!r}")
        self._kv[kv.key] = kv

    def add_scalar(self, key: str, value, vtype: ValueType) -> None:
        if vtype == ValueType.ARRAY:
            raise ValueError("use add_array for arrays")
        _pack_scalar(vtype, value)  # range check now, not at write time
        self._add(_KV(key, vtype, value))

    def add_u8(self, key, v): self.add_scalar(key, v, ValueType.U8)
    def add_i8(self, key, v): self.add_scalar(key, v, ValueType.I8)
    def add_u16(self, key, v): self.add_scalar(key, v, ValueType.U16)
    def add_i16(self, key, v): self.add_scalar(key, v, ValueType.I16)
    def add_u32(self, key, v): self.add_scalar(key, v, ValueType.U32)
    def add_i32(self, key, v): self.add_scalar(key, v, ValueType.I32)
    def add_u64(self, key, v): self.add_scalar(key, v, ValueType.U64)
    def add_i64(self, key, v): self.add_scalar(key, v, ValueType.I64)
    def add_f32(self, key, v): self.add_scalar(key, v, ValueType.F32)
    def add_f64(self, key, v): self.add_scalar(key, v, ValueType.F64)
    def add_bool(self, key, v): self.add_scalar(key, v, ValueType.BOOL)
    def add_string(self, key, v): self.add_scalar(key, v, ValueType.STRING)

    def add_array(self, key: str, values, elem_type: ValueType) -> None:
        """An array of scalars or strings (nested arrays are not supported)."""
        if elem_type == ValueType.ARRAY:
            raise ValueError("nested arrays are not supported")
        values = list(values)
        for v in values[:1]:
            _pack_scalar(elem_type, v)
        self._add(_KV(key, ValueType.ARRAY, values, elem_type))

    def add_string_array(self, key, values): self.add_array(key, values, ValueType.STRING)

    # --- tensors --------------------------------------------------------------------------
    def add_tensor(self, name: str, x: np.ndarray, ggml_type: GGMLType) -> None:
        """x is a float array in torch/C order: shape (rows, cols) for a matrix."""
        if name in self._tensors:
            raise ValueError(f"duplicate tensor {name!r}")
        if len(name.encode("utf-8")) >= 64:
            raise ValueError(f"tensor name too long for ggml (max 63 bytes): {name!r}")
        x = np.asarray(x)
        if x.ndim < 1 or x.ndim > 4:
            raise ValueError(f"{name}: ggml tensors have 1 to 4 dimensions, got {x.shape}")
        self._tensors[name] = _Tensor(name, tuple(int(d) for d in x.shape), GGMLType(ggml_type),
                                      encode_tensor(x, ggml_type))

    # --- output ---------------------------------------------------------------------------
    def _pad(self, n: int) -> int:
        return (self.alignment - n % self.alignment) % self.alignment

    def _encode_kv(self, kv: _KV) -> bytes:
        out = [_pack_string(kv.key), struct.pack("<I", kv.vtype)]
        if kv.vtype != ValueType.ARRAY:
            out.append(_pack_scalar(kv.vtype, kv.value))
        else:
            out.append(struct.pack("<IQ", kv.elem_type, len(kv.value)))
            if kv.elem_type == ValueType.STRING:
                out.extend(_pack_string(s) for s in kv.value)
            else:
                arr = np.asarray(kv.value)
                if kv.elem_type == ValueType.BOOL:
                    arr = arr.astype(bool)
                out.append(arr.astype(SCALAR_NUMPY[kv.elem_type]).tobytes())
        return b"".join(out)

    def to_bytes(self) -> bytes:
        header = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self._tensors), len(self._kv))]
        header.extend(self._encode_kv(kv) for kv in self._kv.values())
        offset = 0
        data = []
        for t in self._tensors.values():
            dims = tuple(reversed(t.shape))
            header.append(_pack_string(t.name))
            header.append(struct.pack("<I", len(dims)))
            header.append(struct.pack(f"<{len(dims)}Q", *dims))
            header.append(struct.pack("<IQ", t.ggml_type, offset))
            expected = int(np.prod(t.shape)) * BYTES_PER_ELEMENT[t.ggml_type]
            assert len(t.data) == expected
            pad = self._pad(len(t.data))
            data.append(t.data + b"\0" * pad)
            offset += len(t.data) + pad
        head = b"".join(header)
        return head + b"\0" * self._pad(len(head)) + b"".join(data)

    def write(self, path: str) -> int:
        blob = self.to_bytes()
        with open(path, "wb") as f:
            f.write(blob)
        return len(blob)
