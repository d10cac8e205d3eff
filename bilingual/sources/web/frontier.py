"""The crawler's state that grows with the URLs of a site, kept compact so memory is set by configuration.

- `HashIndex`: 64-bit keys (`key64` of a URL or a text hash), optionally with an int64 value each, in a flat
  open-addressing table: 12-24 bytes per key (twice that with values) instead of a Python set of URL strings
  (~200 bytes each). Two different strings share a key with probability about n² / 2**65 for n keys
  (3e-8 at a million URLs, 3e-6 at ten million); where a shared key would lose a record, the crawler checks the
  journal entry the value points to (see crawl.py), so only the seen-URL set can err, by skipping one URL.
- `Frontier`: per-host FIFO queues of URLs to fetch. Each host keeps at most `in_memory` entries on the heap; the
  rest wait, in order, in a file of its own. The files are scratch: a restart rebuilds the frontier from the
  journal, so they are wiped when a crawl starts and removed when it ends.
"""

from __future__ import annotations

import hashlib
import json
from array import array
import shutil
from collections import deque
from pathlib import Path
from typing import Optional

def key64(text: str) -> int:
    """A 64-bit key of a string (blake2b): stable across runs and processes, unlike hash()."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class HashIndex:
    """A set of 64-bit keys, or a map key -> int64 when `values` is true: an open-addressing table (linear
    probing) in flat `array`s of machine words, kept between 1/3 and 2/3 full, so 12-24 bytes per key
    (24-48 with values) and no Python object per key. Keys are hashes already, so their low bits pick the slot."""

    def __init__(self, values: bool = False, capacity: int = 1024):
        self._with_values = values
        self._allocate(max(8, 1 << (capacity - 1).bit_length()))

    def _allocate(self, capacity: int) -> None:
        self._mask = capacity - 1
        self._keys = array("Q", bytes(8 * capacity))  # 0 marks an empty slot
        self._values = array("q", bytes(8 * capacity)) if self._with_values else None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _slot(self, key: int) -> int:
        """The slot holding `key`, or the empty slot where it would go (key 0 is stored as 1)."""
        keys, mask = self._keys, self._mask
        i = key & mask
        while True:
            k = keys[i]
            if k == key or k == 0:
                return i
            i = (i + 1) & mask

    def get(self, key: int, default: Optional[int] = None) -> Optional[int]:
        key = key or 1
        i = self._slot(key)
        if self._keys[i] == 0:
            return default
        return self._values[i] if self._with_values else 0

    def __contains__(self, key: int) -> bool:
        key = key or 1
        return self._keys[self._slot(key)] != 0

    def add(self, key: int, value: int = 0) -> None:
        """Insert `key`, or set its value when it is already there."""
        key = key or 1
        i = self._slot(key)
        if self._keys[i] == 0:
            self._keys[i] = key
            self._count += 1
        if self._with_values:
            self._values[i] = value
        if 3 * self._count > 2 * (self._mask + 1):
            self._grow()

    def _grow(self) -> None:
        keys, values, count = self._keys, self._values, self._count
        self._allocate(2 * len(keys))
        for i, key in enumerate(keys):
            if key:
                j = self._slot(key)
                self._keys[j] = key
                if values is not None:
                    self._values[j] = values[i]
        self._count = count


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
        with open(self.path, "r", encoding="utf-8") as fh:
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
