"""Dynamic batching with fair, bounded model calls.

One worker builds each model call from one request plus every other request with the same (src, tgt, beams),
taking texts from each until the call holds `max_batch` texts or `max_call_cost` token-beams (source tokens ×
beams, the work of one call). A heavy request is thereby split into micro-batches, and requests not yet served
go first; partly served ones take turns in one call out of every MAX_SKIPS + 1 while new ones wait, so they
always progress. The bound: a new request waits for the model call in flight (never interrupted), at most one
call of the partly served requests, and the calls of new requests that arrived before it with another
(src, tgt, beams) (same-key ones share its call); every call holds at most `max_call_cost` token-beams (a
single text over it goes alone). A light request is whole in its first call, so behind any number of heavy
requests it waits at most two calls of bounded cost (plus earlier new arrivals). Requests whose client went
away are dropped before their next call.

`max_call_cost=None` restores whole-request calls (the behaviour before issue 15; the load test's baseline);
`enabled=False` gives every model call to one request only (no sharing; still micro-batched).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

log = logging.getLogger("bilingual.service")

MAX_SKIPS = 2  # after this many calls for new requests in a row, partly served (heavy) requests get one

# translate(texts, src, tgt, beams) -> translations; runs in the model thread
TranslateFn = Callable[[list, str, str, int], list]


@dataclass(eq=False)
class Pending:
    texts: list
    costs: list          # per text, in token-beams
    key: tuple           # (src, tgt, beams)
    future: asyncio.Future
    results: list = field(default_factory=list)
    sent: int = 0        # texts handed to the model so far
    received: int = 0    # translations back so far
    queued_at: float = field(default_factory=time.perf_counter)

    @property
    def abandoned(self) -> bool:
        return self.future.done()


class Batcher:
    def __init__(self, translate: TranslateFn, max_batch: int = 32, wait_ms: float = 10.0, enabled: bool = True,
                 on_batch: Optional[Callable[[int, int], None]] = None, max_call_cost: Optional[int] = 512,
                 on_drop: Optional[Callable[[int], None]] = None):
        if max_batch < 1 or wait_ms < 0 or (max_call_cost is not None and max_call_cost < 1):
            raise ValueError("max_batch and max_call_cost must be >= 1 and wait_ms >= 0")
        self.translate = translate
        self.max_batch = max_batch
        self.max_call_cost = max_call_cost
        self.wait_s = wait_ms / 1000.0
        self.enabled = enabled
        self.on_batch = on_batch or (lambda requests, texts: None)
        self.on_drop = on_drop or (lambda requests: None)
        # one model thread: model calls never overlap (ORT/torch use the cores themselves)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bilingual-model")
        self.active: deque[Pending] = deque()
        self.wakeup: Optional[asyncio.Event] = None
        self.worker: Optional[asyncio.Task] = None
        self.call_started: Optional[float] = None  # when the model call in flight began
        self.fresh_streak = 0  # calls in a row given to new requests while partly served ones waited
        self.last_progress = time.perf_counter()

    async def start(self) -> None:
        if self.worker is None:
            self.wakeup = asyncio.Event()
            self.worker = asyncio.create_task(self._run(), name="bilingual-batcher")

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
            self.worker = None
        while self.active:
            item = self.active.popleft()
            if not item.future.done():
                item.future.set_exception(RuntimeError("server is shutting down"))
        self.executor.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------------------------------------- requests
    def enqueue(self, texts: list, src: str, tgt: str, beams: int, costs: Optional[list] = None) -> Pending:
        """Queue a request; await `item.future` for its translations, cancel it when the client is gone."""
        if self.worker is None or self.worker.done():
            raise RuntimeError("batcher is not running")
        costs = list(costs) if costs is not None else [beams] * len(texts)
        item = Pending(list(texts), costs, (src, tgt, beams), asyncio.get_running_loop().create_future())
        item.results = [None] * len(item.texts)
        if self.call_started is None and not any(not i.abandoned for i in self.active):
            self.last_progress = time.perf_counter()  # idle until now: the stall clock starts with this work
        self.active.append(item)
        self.wakeup.set()
        return item

    async def submit(self, texts: list, src: str, tgt: str, beams: int, costs: Optional[list] = None) -> list:
        item = self.enqueue(texts, src, tgt, beams, costs)
        try:
            return await item.future
        except asyncio.CancelledError:
            item.future.cancel()
            raise

    def state(self, stall_s: float) -> dict:
        """Queue figures for /health; `stalled` when a call has run, or work has waited with no call
        finishing, for longer than `stall_s`."""
        now = time.perf_counter()
        waiting = [i for i in self.active if not i.abandoned]
        in_flight = now - self.call_started if self.call_started is not None else 0.0
        no_progress = now - self.last_progress if waiting or self.call_started is not None else 0.0
        oldest = max((now - i.queued_at for i in waiting), default=0.0)
        alive = self.worker is not None and not self.worker.done()
        return {"queued_requests": len(waiting), "queued_texts": sum(len(i.texts) - i.sent for i in waiting),
                "call_in_flight_s": round(in_flight, 3), "oldest_request_s": round(oldest, 3),
                "worker_alive": alive, "stalled": (not alive) or in_flight > stall_s or no_progress > stall_s}

    # ---------------------------------------------------------------------------------------------- worker
    def _queued_texts(self) -> int:
        return sum(len(i.texts) - i.sent for i in self.active if not i.abandoned)

    async def _gather(self) -> None:
        """Wait for work; after an idle spell give others `wait_ms` to join the first request's call."""
        while not self._drop_abandoned():
            self.wakeup.clear()
            await self.wakeup.wait()
            deadline = time.perf_counter() + self.wait_s
            while self.enabled and self._queued_texts() < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self.wakeup.clear()
                try:
                    await asyncio.wait_for(self.wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break

    def _drop_abandoned(self) -> int:
        """Remove requests whose client went away; returns how many remain."""
        kept = deque(i for i in self.active if not i.abandoned)
        dropped = len(self.active) - len(kept)
        if dropped:
            log.info("dropped %d request(s) whose client went away before translation", dropped)
            self.on_drop(dropped)
        self.active = kept
        return len(kept)

    def _next_call(self) -> tuple[tuple, list[tuple[Pending, int, int]]]:
        """The next model call: [(request, first text, end)].

        Order: the oldest request not served yet (new arrivals go first: a light request is never queued behind
        the rest of a heavy one), except that after MAX_SKIPS such calls in a row the partly served requests get
        one (the rotation's head; they take turns), so heavy requests always progress. Other requests with the
        same (src, tgt, beams) fill the call, unserved ones first. Served requests move to the back."""
        started = [i for i in self.active if i.sent > 0]
        fresh = [i for i in self.active if i.sent == 0]
        if fresh and (not started or self.fresh_streak < MAX_SKIPS):
            head = fresh[0]
            self.fresh_streak += 1 if started else 0
        else:
            head = started[0]
            self.fresh_streak = 0
        key = head.key
        parts, texts, cost = [], 0, 0
        for item in [head] + [i for i in fresh + started if i is not head]:
            if item.key != key or texts >= self.max_batch or (parts and not self.enabled):
                continue
            start = end = item.sent
            if self.max_call_cost is None:  # whole requests, as before issue 15 (may pass max_batch)
                end = len(item.texts)
                texts += end - start
            while end < len(item.texts) and texts < self.max_batch:
                extra = item.costs[end]
                if self.max_call_cost is not None and texts and cost + extra > self.max_call_cost:
                    break
                cost, texts, end = cost + extra, texts + 1, end + 1
            if end > start:
                parts.append((item, start, end))
                item.sent = end
            if self.max_call_cost is not None and cost >= self.max_call_cost:
                break
        served = {id(item) for item, _, _ in parts}
        self.active = deque([i for i in self.active if id(i) not in served]
                            + [i for i in self.active if id(i) in served and i.sent < len(i.texts)])
        return key, parts

    async def _call(self, texts, src, tgt, beams):
        loop = asyncio.get_running_loop()
        self.call_started = time.perf_counter()
        try:
            return await loop.run_in_executor(self.executor, self.translate, texts, src, tgt, beams)
        finally:
            self.call_started = None
            self.last_progress = time.perf_counter()

    async def _run(self) -> None:
        while True:
            await self._gather()
            (src, tgt, beams), parts = self._next_call()
            texts = [t for item, a, b in parts for t in item.texts[a:b]]
            self.on_batch(len(parts), len(texts))
            try:
                out = await self._call(texts, src, tgt, beams)
            except Exception as exc:  # never the worker: retry one by one so only the bad request fails
                if len(parts) == 1:
                    log.exception("model call failed")
                    self._fail(parts[0][0], exc)
                    continue
                log.warning("model call for %d requests failed (%s); retrying them one by one", len(parts), exc)
                for item, a, b in parts:
                    try:
                        self._deliver(item, a, await self._call(item.texts[a:b], src, tgt, beams))
                    except Exception as one_exc:
                        log.exception("model call failed")
                        self._fail(item, one_exc)
                continue
            pos = 0
            for item, a, b in parts:
                self._deliver(item, a, out[pos:pos + b - a])
                pos += b - a

    def _deliver(self, item: Pending, start: int, results: list) -> None:
        item.results[start:start + len(results)] = results
        item.received += len(results)
        if item.received == len(item.texts) and not item.future.done():
            item.future.set_result(item.results)

    def _fail(self, item: Pending, exc: BaseException) -> None:
        if item in self.active:
            self.active.remove(item)
        if not item.future.done():
            item.future.set_exception(exc)
