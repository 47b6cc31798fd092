"""TensorBoard event files, written by hand: TFRecord framing plus the few protobuf messages needed.

No tensorflow, tensorboard or protobuf import. A file is a sequence of records::

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

and each ``data`` is a serialized ``tensorflow.Event``. Field numbers used below (from TensorFlow's
``event.proto`` / ``summary.proto`` and TensorBoard's hparams ``api.proto`` / ``plugin_data.proto``):

* Event: wall_time=1 (double), step=2 (int64), file_version=3 (string), summary=5 (Summary)
* Summary: value=1 (repeated Value); Value: tag=1, simple_value=2 (float), histo=5, metadata=9
* SummaryMetadata: plugin_data=1 (PluginData: plugin_name=1, content=2 bytes)
* HistogramProto: min=1 max=2 num=3 sum=4 sum_squares=5 (doubles), bucket_limit=6, bucket=7 (packed doubles)
* HParamsPluginData: version=1, experiment=2, session_start_info=3, session_end_info=4
* Experiment: hparam_infos=4, metric_infos=5; HParamInfo: name=1, type=4; MetricInfo: name=1 (MetricName: tag=2)
* SessionStartInfo: hparams=1 (map<string, google.protobuf.Value>), start_time_secs=5; SessionEndInfo: status=1
* google.protobuf.Value: number_value=2, string_value=3, bool_value=4

:func:`read_events` parses a file back (checking every CRC), for tests and for users without TensorBoard.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["crc32c", "masked_crc32c", "frame_record", "read_records", "read_events", "scalar_event",
           "histogram_event", "hparams_events", "file_version_event"]

# -- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 ------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)
del _i, _c


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def read_records(raw: bytes) -> list[bytes]:
    """Split TFRecord bytes into records, checking both CRCs of each."""
    out, pos = [], 0
    while pos < len(raw):
        if pos + 12 > len(raw):
            raise ValueError(f"truncated TFRecord header at byte {pos}")
        header = raw[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        if hcrc != masked_crc32c(header):
            raise ValueError(f"TFRecord length CRC mismatch at byte {pos}")
        data = raw[pos + 12:pos + 12 + n]
        if len(data) != n or pos + 16 + n > len(raw):
            raise ValueError(f"truncated TFRecord at byte {pos}")
        (dcrc,) = struct.unpack("<I", raw[pos + 12 + n:pos + 16 + n])
        if dcrc != masked_crc32c(data):
            raise ValueError(f"TFRecord data CRC mismatch at byte {pos}")
        out.append(data)
        pos += 16 + n
    return out


# -- protobuf wire format ---------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int64 negatives are 10-byte two's complement varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _f_varint(field: int, n: int) -> bytes:
    return _key(field, 0) + _varint(int(n))


def _f_double(field: int, x: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(x))


def _f_float(field: int, x: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(x))


def _f_bytes(field: int, b: bytes | str) -> bytes:
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _key(field, 2) + _varint(len(b)) + b


def _f_packed_doubles(field: int, xs) -> bytes:
    return _f_bytes(field, b"".join(struct.pack("<d", float(x)) for x in xs))


def decode_message(buf: bytes) -> dict[int, list[Any]]:
    """Generic decode: field number -> list of raw values (int for varint, bytes for length-delimited,
    ``("d", float)`` for 64-bit, ``("f", float)`` for 32-bit)."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _read_varint(buf, pos)
        elif wire == 1:
            val = ("d", struct.unpack("<d", buf[pos:pos + 8])[0])
            pos += 8
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            val = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            val = ("f", struct.unpack("<f", buf[pos:pos + 4])[0])
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} for field {field}")
        out.setdefault(field, []).append(val)
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


# -- messages ---------------------------------------------------------------------------------------
def _event(wall_time: float, step: int, body: bytes) -> bytes:
    return _f_double(1, wall_time) + _f_varint(2, step) + body


def file_version_event(wall_time: float) -> bytes:
    return _event(wall_time, 0, _f_bytes(3, "brain.Event:2"))


def _summary(values: list[bytes]) -> bytes:
    return b"".join(_f_bytes(1, v) for v in values)


def scalar_event(tag: str, value: float, step: int, wall_time: float) -> bytes:
    val = _f_bytes(1, tag) + _f_float(2, value)
    return _event(wall_time, step, _f_bytes(5, _summary([val])))


def histogram_proto(values) -> bytes:
    """A HistogramProto of ``values`` (a NumPy array) with up to 30 equal-width buckets."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return _f_double(3, 0.0)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        edges = np.array([lo - 0.5, hi + 0.5]) if lo == 0 else np.array([lo - abs(lo) * 0.01, hi + abs(hi) * 0.01])
        counts = np.array([v.size])
    else:
        counts, edges = np.histogram(v, bins=min(30, max(1, v.size)))
    return (_f_double(1, lo) + _f_double(2, hi) + _f_double(3, float(v.size)) + _f_double(4, float(v.sum()))
            + _f_double(5, float(np.dot(v, v))) + _f_packed_doubles(6, edges[1:]) + _f_packed_doubles(7, counts))


def histogram_event(tag: str, values, step: int, wall_time: float) -> bytes:
    val = _f_bytes(1, tag) + _f_bytes(5, histogram_proto(values))
    return _event(wall_time, step, _f_bytes(5, _summary([val])))


def _plugin_metadata(plugin: str, content: bytes) -> bytes:
    return _f_bytes(1, _f_bytes(1, plugin) + _f_bytes(2, content))


def _pb_value(v: Any) -> tuple[bytes, int]:
    """(google.protobuf.Value bytes, hparams DataType) for a bool, number or string."""
    if isinstance(v, bool):
        return _f_varint(4, int(v)), 2
    if isinstance(v, (int, float)):
        return _f_double(2, float(v)), 3
    return _f_bytes(3, str(v)), 1


def hparams_events(params: dict[str, Any], metric_tags: list[str], wall_time: float) -> list[bytes]:
    """The three summaries TensorBoard's HPARAMS tab reads: experiment, session start, session end."""
    infos, entries = [], []
    for k, v in params.items():
        pv, dtype = _pb_value(v)
        infos.append(_f_bytes(4, _f_bytes(1, k) + _f_varint(4, dtype)))
        entries.append(_f_bytes(1, _f_bytes(1, k) + _f_bytes(2, pv)))
    metrics = [_f_bytes(5, _f_bytes(1, _f_bytes(2, tag))) for tag in metric_tags]
    experiment = b"".join(infos) + b"".join(metrics)
    start = b"".join(entries) + _f_double(5, wall_time)
    end = _f_varint(1, 1) + _f_double(2, wall_time)  # STATUS_SUCCESS
    out = []
    for tag, field, body in (("_hparams_/experiment", 2, experiment),
                             ("_hparams_/session_start_info", 3, start),
                             ("_hparams_/session_end_info", 4, end)):
        content = _f_varint(1, 0) + _f_bytes(field, body)
        val = _f_bytes(1, tag) + _f_bytes(9, _plugin_metadata("hparams", content))
        out.append(_event(wall_time, 0, _f_bytes(5, _summary([val]))))
    return out


# -- reading back -----------------------------------------------------------------------------------
def _double(fields, n, default=None):
    v = fields.get(n)
    return v[-1][1] if v else default


def _parse_histo(buf: bytes) -> dict[str, Any]:
    f = decode_message(buf)

    def packed(n):
        data = b"".join(f.get(n, []))
        return list(struct.unpack(f"<{len(data) // 8}d", data))

    return {"min": _double(f, 1, 0.0), "max": _double(f, 2, 0.0), "num": _double(f, 3, 0.0),
            "sum": _double(f, 4, 0.0), "sum_squares": _double(f, 5, 0.0),
            "bucket_limit": packed(6), "bucket": packed(7)}


def _parse_pb_value(buf: bytes) -> Any:
    f = decode_message(buf)
    if 2 in f:
        return f[2][-1][1]
    if 3 in f:
        return f[3][-1].decode("utf-8")
    if 4 in f:
        return bool(f[4][-1])
    return None


def _parse_hparams_content(buf: bytes) -> dict[str, Any]:
    f = decode_message(buf)
    out: dict[str, Any] = {"version": f.get(1, [0])[-1]}
    if 2 in f:
        exp = decode_message(f[2][-1])
        out["experiment"] = {
            "hparam_infos": [{"name": decode_message(h)[1][-1].decode(), "type": decode_message(h).get(4, [0])[-1]}
                             for h in exp.get(4, [])],
            "metric_infos": [decode_message(decode_message(m)[1][-1])[2][-1].decode() for m in exp.get(5, [])],
        }
    if 3 in f:
        ssi = decode_message(f[3][-1])
        hp = {}
        for entry in ssi.get(1, []):
            e = decode_message(entry)
            hp[e[1][-1].decode()] = _parse_pb_value(e.get(2, [b""])[-1])
        out["session_start_info"] = {"hparams": hp, "start_time_secs": _double(ssi, 5)}
    if 4 in f:
        sei = decode_message(f[4][-1])
        out["session_end_info"] = {"status": sei.get(1, [0])[-1]}
    return out


def read_events(path) -> list[dict[str, Any]]:
    """Parse an event file into dicts: ``wall_time``, ``step``, and ``file_version`` or ``summary``
    (a list of ``{"tag", "simple_value" | "histo", "plugin_name", "hparams"}``)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    events = []
    for rec in read_records(raw):
        f = decode_message(rec)
        ev: dict[str, Any] = {"wall_time": _double(f, 1, 0.0), "step": f.get(2, [0])[-1]}
        if ev["step"] >= 1 << 63:
            ev["step"] -= 1 << 64
        if 3 in f:
            ev["file_version"] = f[3][-1].decode()
        if 5 in f:
            values = []
            for vb in decode_message(f[5][-1]).get(1, []):
                vf = decode_message(vb)
                v: dict[str, Any] = {"tag": vf[1][-1].decode("utf-8")}
                if 2 in vf:
                    v["simple_value"] = vf[2][-1][1]
                if 5 in vf:
                    v["histo"] = _parse_histo(vf[5][-1])
                if 9 in vf:
                    pd = decode_message(decode_message(vf[9][-1])[1][-1])
                    v["plugin_name"] = pd[1][-1].decode()
                    if v["plugin_name"] == "hparams":
                        v["hparams"] = _parse_hparams_content(pd.get(2, [b""])[-1])
                values.append(v)
            ev["summary"] = values
        events.append(ev)
    return events
