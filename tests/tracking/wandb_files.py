"""Read an offline W&B run back from its files, as ``wandb sync`` would upload it.

``<run_dir>/wandb/offline-run-<time>-<id>/run-<id>.wandb`` is W&B's transaction log: a 7-byte file
header (``:W&B``, magic ``0xBEE1``, version 0), then LevelDB-log framing — 32 KiB blocks of chunks,
each with a 7-byte header (CRC32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last)
— whose reassembled payloads are ``wandb.proto.wandb_internal_pb2.Record`` messages. The wandb
releases whose service is ``wandb-core`` no longer ship a Python reader, so the tests carry this
one; checksums are not verified.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

_BLOCK = 32 * 1024
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[pb.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    payloads: list[bytes] = []
    pending = b""
    position = _HEADER
    while position + _HEADER <= len(data):
        left_in_block = _BLOCK - position % _BLOCK
        if left_in_block < _HEADER:  # the block's tail is padding
            position += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + _HEADER])
        if length == 0 and kind == 0:  # zero padding up to the next block
            position += left_in_block
            continue
        chunk = data[position + _HEADER : position + _HEADER + length]
        position += _HEADER + length
        if kind == _FULL:
            payloads.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            payloads.append(pending + chunk)
            pending = b""
    records = []
    for payload in payloads:
        record = pb.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def _key(item: Any) -> str:
    return ".".join(item.nested_key) if item.nested_key else item.key


@dataclass
class OfflineRun:
    """The records of one offline W&B run."""

    path: Path
    records: list[pb.Record]

    def of(self, kind: str) -> list[Any]:
        return [getattr(r, kind) for r in self.records if r.WhichOneof("record_type") == kind]

    @property
    def run(self) -> pb.RunRecord:
        (run,) = self.of("run")
        return run

    def config_updates(self) -> list[dict[str, Any]]:
        """Each config record (the run record's initial config first), as ``key -> value``."""
        updates = [{_key(i): json.loads(i.value_json) for i in self.run.config.update}]
        updates += [{_key(i): json.loads(i.value_json) for i in c.update} for c in self.of("config")]
        return updates

    @property
    def config(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for update in self.config_updates():
            merged.update(update)
        merged.pop("_wandb", None)
        return merged

    @property
    def history(self) -> list[dict[str, Any]]:
        """Each logged row; a value W&B stores as several parts (a table, images) has keys ``<key>.<part>``."""
        return [{_key(i): json.loads(i.value_json) for i in h.item} for h in self.of("history")]

    def series(self, key: str) -> list[tuple[int, Any]]:
        """``(trainer/global_step, value)`` of every history row holding ``key``."""
        return [(row.get("trainer/global_step"), row[key]) for row in self.history if key in row]

    @property
    def artifacts(self) -> list[pb.ArtifactRecord]:
        return self.of("artifact")


def _settled(path: Path, quiet: float = 0.3, timeout: float = 10.0) -> Path:
    """Wait until W&B's service has stopped appending to ``path`` (it may still be writing a record
    or two when ``finish()`` returns)."""
    deadline = time.monotonic() + timeout
    size = -1
    while time.monotonic() < deadline:
        current = path.stat().st_size
        if current == size:
            break
        size = current
        time.sleep(quiet)
    return path


def offline_run(run_dir: Path) -> OfflineRun:
    """The one offline W&B run in ``run_dir/wandb``."""
    (path,) = sorted((Path(run_dir) / "wandb").glob("offline-run-*/run-*.wandb"))
    return OfflineRun(path, read_records(_settled(path)))
