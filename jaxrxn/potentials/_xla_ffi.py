"""A Python function as an XLA FFI custom call on CPU, so that compiled programs that call
outside calculators can be kept in JAX's persistent compilation cache.

``jax.pure_callback`` bakes a per-process callback into the compiled program, and JAX never
writes such programs to its persistent cache: every process (every ``jaxrxn reaction``, every
test module) compiled its molecular saddle search, IRC and band again, tens of seconds each
for xTB or PySCF. An FFI custom call names its handler by a registered string instead, so
the program is the same in every process and the cache serves it.

The handler is a ``ctypes`` function that reads XLA's FFI call frame (the stable C ABI of
``xla/ffi/api/c_api.h``, API version 0.1: arguments and results as typed buffers), calls a
Python function on NumPy copies of the arguments and writes its results into the result
buffers. A Python exception becomes an FFI error, which XLA raises as ``XlaRuntimeError``
with the exception's message.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable

import numpy as np

# --- the structs of xla/ffi/api/c_api.h that a handler reads ---------------------------


class _ExtensionBase(ctypes.Structure):
    pass


_ExtensionBase._fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int), ("next", ctypes.POINTER(_ExtensionBase))]


class _ApiVersion(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
        ("major_version", ctypes.c_int), ("minor_version", ctypes.c_int),
    ]  # fmt: skip


class _Metadata(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", _ApiVersion), ("traits", ctypes.c_uint32)]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("extension_base", _ExtensionBase), ("metadata", ctypes.POINTER(_Metadata))]


class _Buffer(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("dtype", ctypes.c_int),
        ("data", ctypes.c_void_p), ("rank", ctypes.c_int64), ("dims", ctypes.POINTER(ctypes.c_int64)),
    ]  # fmt: skip


class _Buffers(ctypes.Structure):
    """``XLA_FFI_Args`` and ``XLA_FFI_Rets`` (the same layout)."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("size", ctypes.c_int64),
        ("types", ctypes.POINTER(ctypes.c_int)), ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ]  # fmt: skip


class _Attrs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("size", ctypes.c_int64),
        ("types", ctypes.c_void_p), ("names", ctypes.c_void_p), ("attrs", ctypes.c_void_p),
    ]  # fmt: skip


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p),
        ("message", ctypes.c_char_p), ("errc", ctypes.c_int),
    ]  # fmt: skip


_ErrorCreate = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_ErrorCreateArgs))


class _Api(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.c_void_p), ("api_version", _ApiVersion),
        ("internal_api", ctypes.c_void_p), ("error_create", _ErrorCreate),
    ]  # fmt: skip


class _CallFrame(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t), ("extension_start", ctypes.POINTER(_ExtensionBase)),
        ("api", ctypes.POINTER(_Api)), ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int),
        ("args", _Buffers), ("rets", _Buffers), ("attrs", _Attrs), ("future", ctypes.c_void_p),
    ]  # fmt: skip


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.POINTER(_CallFrame))
_METADATA_EXTENSION = 1
_EXECUTE = 3
_ERROR_INTERNAL = 13
_DTYPES = {1: np.bool_, 4: np.int32, 5: np.int64, 11: np.float32, 12: np.float64}


def _as_array(address: int) -> np.ndarray:
    """A NumPy view of the FFI buffer at `address` (valid during the call only)."""
    buf = ctypes.cast(address, ctypes.POINTER(_Buffer)).contents
    if buf.dtype not in _DTYPES:
        raise TypeError(f"FFI buffer of XLA data type {buf.dtype} is not supported.")
    shape = tuple(buf.dims[k] for k in range(buf.rank))
    dtype = np.dtype(_DTYPES[buf.dtype])
    size = math.prod(shape)
    if size == 0:
        return np.empty(shape, dtype)
    raw = (ctypes.c_char * (size * dtype.itemsize)).from_address(buf.data)
    return np.frombuffer(raw, dtype).reshape(shape)


def _handler(fn: Callable[..., tuple[np.ndarray, ...]]):
    """The C handler that runs ``fn(*arguments) -> results`` (NumPy arrays of the result
    buffers' shapes) for each execution of the custom call."""

    def handle(frame_ptr):
        frame = frame_ptr.contents
        try:
            ext = frame.extension_start
            if ext and ext.contents.type == _METADATA_EXTENSION:
                # XLA asks at registration which API version the handler speaks
                metadata = ctypes.cast(ext, ctypes.POINTER(_MetadataExtension)).contents.metadata.contents
                metadata.api_version.major_version, metadata.api_version.minor_version = 0, 1
                metadata.traits = 0
                return None
            if frame.stage != _EXECUTE:
                return None
            args = [np.array(_as_array(frame.args.buffers[k])) for k in range(frame.args.size)]
            outs = fn(*args)
            for k in range(frame.rets.size):
                target = _as_array(frame.rets.buffers[k])
                target[...] = np.asarray(outs[k]).reshape(target.shape)
            return None
        except BaseException as err:  # noqa: BLE001 (nothing may unwind through C)
            message = f"{type(err).__name__}: {err}".encode()
            error = _ErrorCreateArgs(_ErrorCreateArgs.errc.offset + ctypes.sizeof(ctypes.c_int), None, message, _ERROR_INTERNAL)
            return frame.api.contents.error_create(ctypes.byref(error))

    return _HANDLER(handle)


_REGISTERED: dict[str, object] = {}  # name -> the ctypes handler, kept alive with the process
_LOCK = threading.Lock()


def register_cpu_handler(name: str, fn: Callable[..., tuple[np.ndarray, ...]]) -> str:
    """Register `fn` as the CPU FFI target `name` (once per process; later calls return
    at once) and return `name`, to pass to ``jax.ffi.ffi_call``. `fn` receives the
    call's operands as NumPy arrays and returns one array per result."""
    with _LOCK:
        if name not in _REGISTERED:
            import jax

            handler = _handler(fn)
            jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(handler), platform="cpu")
            _REGISTERED[name] = handler
    return name
