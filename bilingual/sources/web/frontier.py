"""The crawler's state that grows with the URLs of a site, kept compact so memory is set by configuration.

- `HashIndex`: 64-bit keys (`key64` of a URL or a text hash), optionally with an int64 value each, in sorted
  numpy arrays plus a fixed-size table of recent keys: 8 bytes per key (16 with values) instead of a Python set
  of URL strings (~200 bytes each). Two different strings share a key with probability about n² / 2**65 for n keys
  (3e-8 at a million URLs, 3e-6 at ten million); where a shared key would lose a record, the crawler checks the
  journal entry the value points to (see crawl.py), so only the seen-URL set can err, by skipping one URL.
- `Frontier`: per-host FIFO queues of URLs to fetch. Each host keeps at most `in_memory` entries on the heap; the
  rest wait, in order, in a file of its own. The files are scratch: a restart rebuilds the frontier from the
  journal, so they are wiped when a crawl starts and removed when it ends.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from array import array
from bisect import bisect_left
from collections import deque
from pathlib import Path
from typing import Optional

import numpy as np


def key64(text: str) -> int:
    """A 64-bit key of a string (blake2b): stable across runs and processes, unlike hash()."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


RECENT_SLOTS = 1 << 18  # slots of a HashIndex's table of recent keys (2 MB, 4 MB with values)


class HashIndex:
    """A set of 64-bit keys, or a map key -> int64 when `values` is true. Recent keys go to a fixed-size
    open-addressing table (linear probing; keys are hashes already, so their low bits pick the slot); when it is
    2/3 full they are merged into sorted numpy arrays searched by bisection. So 8 bytes per key (16 with
    values) plus the fixed table, no Python object per key, and a lookup costs about a microsecond."""

    def __init__(self, values: bool = False, recent_slots: int = RECENT_SLOTS):
        self._with_values = values
        self._slots = max(8, 1 << (recent_slots - 1).bit_length())
        self._sorted_keys = np.empty(0, np.uint64)
        self._sorted_values = np.empty(0, np.int64) if values else None
        self._sorted_view = memoryview(self._sorted_keys)  # item access gives Python ints: bisect runs in C
        self._clear_recent()

    def _clear_recent(self) -> None:
        self._keys = array("Q", bytes(8 * self._slots))  # 0 marks an empty slot
        self._values = array("q", bytes(8 * self._slots)) if self._with_values else None
        self._recent = 0

    def __len__(self) -> int:
        return len(self._sorted_keys) + self._recent

    def _slot(self, key: int) -> int:
        """The recent table's slot holding `key`, or the empty slot where it would go."""
        keys, mask = self._keys, self._slots - 1
        i = key & mask
        while True:
            k = keys[i]
            if k == key or k == 0:
                return i
            i = (i + 1) & mask

    def _position(self, key: int) -> int:
        """Where `key` is in the sorted arrays, or -1."""
        view = self._sorted_view
        i = bisect_left(view, key)
        return i if i < len(view) and view[i] == key else -1

    def get(self, key: int, default: Optional[int] = None) -> Optional[int]:
        key = key or 1  # key 0 is stored as 1
        i = self._slot(key)
        if self._keys[i]:
            return self._values[i] if self._with_values else 0
        j = self._position(key)
        if j < 0:
            return default
        return int(self._sorted_values[j]) if self._with_values else 0

    def __contains__(self, key: int) -> bool:
        return self.get(key) is not None

    def add(self, key: int, value: int = 0) -> None:
        """Insert `key`, or set its value when it is already there."""
        key = key or 1
        i = self._slot(key)
        if not self._keys[i]:
            j = self._position(key)
            if j >= 0:
                if self._with_values:
                    self._sorted_values[j] = value
                return
            self._keys[i] = key
            self._recent += 1
        if self._with_values:
            self._values[i] = value
        if 3 * self._recent > 2 * self._slots:
            self._merge()

    def _merge(self) -> None:
        filled = np.frombuffer(self._keys, np.uint64) != 0
        keys = np.concatenate([self._sorted_keys, np.frombuffer(self._keys, np.uint64)[filled]])
        if self._with_values:
            values = np.concatenate([self._sorted_values, np.frombuffer(self._values, np.int64)[filled]])
            order = np.argsort(keys)
            self._sorted_keys, self._sorted_values = keys[order], values[order]
        else:
            keys.sort()
            self._sorted_keys = keys
        self._sorted_view = memoryview(self._sorted_keys)
        self._clear_recent()


class _HostQueue:
    """One host's FIFO: `head` in memory, then older overflow in `path` (from `offset` on), then `tail`, the
    newest overflow not yet written."""

    def __init__(self, path: Path, in_memory: int):
        self.path, self.in_memory = path, in_memory
        self.head: deque = deque()
        self.tail: list = []
        self.on_disk = 0
        self.offset = 0

    def __len__(self) -> int:
        return len(self.head) + self.on_disk + len(self.tail)

    def push(self, item: tuple) -> None:
        if not self.on_disk and not self.tail and len(self.head) < self.in_memory:
            self.head.append(item)
            return
        self.tail.append(item)
        if len(self.tail) >= self.in_memory:
            self._spill()

    def _spill(self) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in self.tail)
        self.on_disk += len(self.tail)
        self.tail = []

    def pop(self) -> tuple:
        item = self.head.popleft()
        if not self.head:
            self._refill()
        return item

    def _refill(self) -> None:
        if not self.on_disk:
            self.head.extend(self.tail)
            self.tail = []
            return
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            while len(self.head) < self.in_memory and self.on_disk:
                self.head.append(tuple(json.loads(fh.readline())))
                self.on_disk -= 1
            self.offset = fh.tell()
        if not self.on_disk:  # the file is used up: start it again empty
            self.path.unlink()
            self.offset = 0


class Frontier:
    """URLs waiting to be fetched, (url, depth, kind) per host, first in first out."""

    def __init__(self, folder: Path, in_memory: int):
        self.folder = Path(folder)
        self.in_memory = max(1, int(in_memory))
        shutil.rmtree(self.folder, ignore_errors=True)  # left by a killed run: the journal replay rebuilds it
        self._queues: dict[str, _HostQueue] = {}

    def push(self, host: str, item: tuple) -> None:
        q = self._queues.get(host)
        if q is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            q = self._queues[host] = _HostQueue(self.folder / f"{key64(host):016x}.jsonl", self.in_memory)
        q.push(item)

    def hosts(self) -> list[str]:
        return list(self._queues)

    def peek(self, host: str) -> Optional[tuple]:
        q = self._queues[host]
        return q.head[0] if q.head else None

    def pop(self, host: str) -> tuple:
        return self._queues[host].pop()

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
