"""A small GGUF (v2/v3) reader in pure Python + numpy, for self-checks of what gguf_writer.py wrote.

    f = GGUFFile.open("model.gguf")
    f.kv["general.architecture"].value      # metadata: .type (ValueType), .value, .elem_type
    f.tensors["token_embd.weight"].shape     # torch order (rows, cols)
    f.tensor_f32("token_embd.weight")        # float32 numpy array in torch order

Every count and offset is checked against the file size; a bad file raises GGUFError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from gguf_writer import (BYTES_PER_ELEMENT, DEFAULT_ALIGNMENT, GGUF_MAGIC, SCALAR_FORMAT,
                         SCALAR_NUMPY, GGMLType, ValueType, bf16_bits_to_f32)


class GGUFError(ValueError):
    pass


@dataclass
class Value:
    type: ValueType
    value: object
    elem_type: ValueType | None = None


@dataclass
class TensorInfo:
    name: str
    dims: tuple[int, ...]  # ggml order (innermost first)
    ggml_type: GGMLType
    offset: int            # from the start of the data section

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.dims))

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    @property
    def size_bytes(self) -> int:
        return self.n_elements * BYTES_PER_ELEMENT[self.ggml_type]


class _Cursor:
    def __init__(self, buf: bytes):
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"truncated file: need {n} bytes at offset {self.pos}, "
                            f"file has {len(self.buf)}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError as e:
            raise GGUFError(f"string at offset {self.pos - n} is not UTF-8: {e}") from None


def _read_value(c: _Cursor, vtype: int) -> Value:
    try:
        vt = ValueType(vtype)
    except ValueError:
        raise GGUFError(f"unknown metadata value type {vtype}") from None
    if vt == ValueType.STRING:
        return Value(vt, c.string())
    if vt == ValueType.ARRAY:
        et = c.unpack("<I")
        n = c.unpack("<Q")
        try:
            elem = ValueType(et)
        except ValueError:
            raise GGUFError(f"unknown array element type {et}") from None
        if elem == ValueType.ARRAY:
            raise GGUFError("nested arrays are not supported")
        if elem == ValueType.STRING:
            if n > len(c.buf):  # every string takes at least 8 bytes
                raise GGUFError(f"array count {n} exceeds file size")
            return Value(vt, [c.string() for _ in range(n)], elem)
        width = np.dtype(SCALAR_NUMPY[elem]).itemsize
        raw = c.take(n * width)
        arr = np.frombuffer(raw, dtype=SCALAR_NUMPY[elem])
        values = [bool(x) for x in arr] if elem == ValueType.BOOL else arr.tolist()
        return Value(vt, values, elem)
    return Value(vt, c.unpack(SCALAR_FORMAT[vt]))


class GGUFFile:
    def __init__(self, buf: bytes):
        self.buf = buf
        c = _Cursor(buf)
        if c.take(4) != GGUF_MAGIC:
            raise GGUFError("not a GGUF file (bad magic)")
        self.version = c.unpack("<I")
        if self.version not in (2, 3):
            raise GGUFError(f"unsupported GGUF version {self.version}")
        n_tensors = c.unpack("<Q")
        n_kv = c.unpack("<Q")
        if n_tensors > len(buf) or n_kv > len(buf):
            raise GGUFError("absurd tensor or metadata count")
        self.kv: dict[str, Value] = {}
        for _ in range(n_kv):
            key = c.string()
            if key in self.kv:
                raise GGUFError(f"duplicate key {key!r}")
            self.kv[key] = _read_value(c, c.unpack("<I"))
        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            self.alignment = int(self.kv["general.alignment"].value)
            if self.alignment <= 0 or self.alignment % 8:
                raise GGUFError(f"bad alignment {self.alignment}")
        self.tensors: dict[str, TensorInfo] = {}
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.unpack("<I")
            if not 1 <= n_dims <= 4:
                raise GGUFError(f"{name}: bad n_dims {n_dims}")
            dims = tuple(c.unpack("<Q") for _ in range(n_dims))
            t = c.unpack("<I")
            try:
                gt = GGMLType(t)
            except ValueError:
                raise GGUFError(f"{name}: unsupported ggml type {t}") from None
            offset = c.unpack("<Q")
            if offset % self.alignment:
                raise GGUFError(f"{name}: offset {offset} not aligned to {self.alignment}")
            if name in self.tensors:
                raise GGUFError(f"duplicate tensor {name!r}")
            self.tensors[name] = TensorInfo(name, dims, gt, offset)
        self.data_offset = c.pos + (self.alignment - c.pos % self.alignment) % self.alignment
        for info in self.tensors.values():
            end = self.data_offset + info.offset + info.size_bytes
            if end > len(buf):
                raise GGUFError(f"{info.name}: data runs past the end of the file")

    @classmethod
    def open(cls, path: str) -> "GGUFFile":
        with open(path, "rb") as f:
            return cls(f.read())

    def value(self, key: str, default=None):
        v = self.kv.get(key)
        return default if v is None else v.value

    def tensor_raw(self, name: str) -> np.ndarray:
        """The stored elements (float32, float16 or uint16 bf16 bits), in torch order."""
        info = self.tensors[name]
        start = self.data_offset + info.offset
        raw = self.buf[start:start + info.size_bytes]
        dtype = {GGMLType.F32: "<f4", GGMLType.F16: "<f2", GGMLType.BF16: "<u2"}[info.ggml_type]
        return np.frombuffer(raw, dtype=dtype).reshape(info.shape)

    def tensor_f32(self, name: str) -> np.ndarray:
        info = self.tensors[name]
        raw = self.tensor_raw(name)
        if info.ggml_type == GGMLType.BF16:
            return bf16_bits_to_f32(raw).reshape(info.shape)
        return raw.astype(np.float32)
