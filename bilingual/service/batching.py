"""Dynamic batching: concurrent requests share one model call.

Requests wait in an asyncio queue; one worker takes the first, keeps collecting for up to `wait_ms`
or until `max_batch` texts are gathered, groups what it got by (src, tgt, beams) and runs one
`Translator.translate` call per group in the single model thread. With batching off every request
is its own model call (same thread), which is the baseline the benchmark compares against.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

log = logging.getLogger("bilingual.service")

# translate(texts, src, tgt, beams) -> translations; runs in the model thread
TranslateFn = Callable[[list, str, str, int], list]


@dataclass
class _Pending:
    texts: list
    key: tuple  # (src, tgt, beams)
    future: asyncio.Future
    queued_at: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(self, translate: TranslateFn, max_batch: int = 32, wait_ms: float = 10.0, enabled: bool = True,
                 on_batch: Optional[Callable[[int, int], None]] = None):
        if max_batch < 1 or wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and wait_ms >= 0")
        self.translate = translate
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000.0
        self.enabled = enabled
        self.on_batch = on_batch or (lambda requests, texts: None)
        # one model thread: model calls never overlap (ORT/torch use the cores themselves)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bilingual-model")
        self.queue: Optional[asyncio.Queue] = None
        self.worker: Optional[asyncio.Task] = None

    async def start(self) -> None:
        if self.enabled and self.worker is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.create_task(self._run(), name="bilingual-batcher")

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
            self.worker = None
        if self.queue is not None:
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if not item.future.done():
                    item.future.set_exception(RuntimeError("server is shutting down"))
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, texts: list, src: str, tgt: str, beams: int) -> list:
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.on_batch(1, len(texts))
            return await loop.run_in_executor(self.executor, self.translate, texts, src, tgt, beams)
        if self.worker is None or self.worker.done():
            raise RuntimeError("batcher is not running")
        fut = loop.create_future()
        await self.queue.put(_Pending(list(texts), (src, tgt, beams), fut))
        return await fut

    async def _collect(self) -> list[_Pending]:
        first = await self.queue.get()
        batch, n = [first], len(first.texts)
        deadline = time.perf_counter() + self.wait_s
        while n < self.max_batch:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                # take whatever is already queued without waiting
                if self.queue.empty():
                    break
                item = self.queue.get_nowait()
            else:
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            batch.append(item)
            n += len(item.texts)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect()
            groups: dict[tuple, list[_Pending]] = {}
            for item in batch:
                if not item.future.cancelled():  # client went away while queued
                    groups.setdefault(item.key, []).append(item)
            for (src, tgt, beams), items in groups.items():
                texts = [t for item in items for t in item.texts]
                self.on_batch(len(items), len(texts))
                try:
                    out = await loop.run_in_executor(self.executor, self.translate, texts, src, tgt, beams)
                except Exception as exc:  # never the worker: retry one by one so only the bad request fails
                    if len(items) == 1:
                        log.exception("model call failed")
                        self._resolve(items[0], exc=exc)
                        continue
                    log.warning("model call for %d requests failed (%s); retrying them one by one", len(items), exc)
                    for item in items:
                        try:
                            self._resolve(item, await loop.run_in_executor(
                                self.executor, self.translate, item.texts, src, tgt, beams))
                        except Exception as one_exc:
                            log.exception("model call failed")
                            self._resolve(item, exc=one_exc)
                    continue
                start = 0
                for item in items:
                    self._resolve(item, out[start:start + len(item.texts)])
                    start += len(item.texts)

    @staticmethod
    def _resolve(item: _Pending, result=None, exc: Optional[BaseException] = None) -> None:
        if item.future.done():  # the client went away
            return
        if exc is not None:
            item.future.set_exception(exc)
        else:
            item.future.set_result(result)
