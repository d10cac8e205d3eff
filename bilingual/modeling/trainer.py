"""`BilingualTrainer`: Seq2SeqTrainer plus what a translation run needs and the plain one lacks.

- token-budget batches (a batch sampler) and, in streaming mode, each process reading its own part;
- the memory-mapped training data read with bounded resident pages (`data.PageBoundedDataset`);
- real-token throughput (source + target tokens, no padding) logged as `tokens_per_second`;
- dev scores by greedy (or `generation_num_beams`) decoding of a bounded dev subset, scored per direction
  with the one metric setup of `bilingual evaluate` (`metrics.score`); `chrf`/`bleu` are the means over
  directions and `chrf` picks the best checkpoint.
"""

from __future__ import annotations

import time

from transformers import Seq2SeqTrainer

from bilingual.modeling import data as data_mod
from bilingual.modeling.metrics import score
from bilingual.modeling.model import generate_texts


class BilingualTrainer(Seq2SeqTrainer):
    def __init__(self, *args, batch_sampler=None, dev_sets=None, own_stream: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._batch_sampler = batch_sampler
        self._own_stream = own_stream
        self.dev_sets = dev_sets or {}
        self.signatures: dict = {}
        self._tokens = None
        self._tokens_total = 0
        self._last_log = (time.perf_counter(), 0)

    def get_train_dataloader(self):
        from torch.utils.data import DataLoader

        if self._own_stream and self.args.world_size > 1:
            # The stream was already split by node: Accelerate's sharding would make every process read the
            # whole stream again and keep every n-th batch. Inputs are moved to the device by the Trainer.
            return DataLoader(self.train_dataset, batch_size=self.args.per_device_train_batch_size,
                              collate_fn=self.data_collator, num_workers=self.args.dataloader_num_workers)
        if self._batch_sampler is None:
            return super().get_train_dataloader()
        ds = self._remove_unused_columns(self.train_dataset, description="training")
        if getattr(ds, "cache_files", None) and data_mod.MAPPED_PAGES_BUDGET > 0:   # keep mapped pages out of RSS
            ds = data_mod.PageBoundedDataset(ds)
        loader = DataLoader(ds, batch_sampler=self._batch_sampler, collate_fn=self.data_collator,
                            num_workers=self.args.dataloader_num_workers,
                            pin_memory=self.args.dataloader_pin_memory)
        return self.accelerator.prepare(loader)

    def training_step(self, model, inputs, num_items_in_batch=None):
        n = data_mod.count_tokens(inputs).detach()
        self._tokens = n if self._tokens is None else self._tokens + n
        return super().training_step(model, inputs, num_items_in_batch)

    def flush_tokens(self) -> int:
        """Real tokens trained on so far, summed over processes (one host sync per call)."""
        if self._tokens is not None:
            total = self.accelerator.reduce(self._tokens.to(self.args.device), reduction="sum")
            self._tokens_total += int(total.item())
            self._tokens = None
        return self._tokens_total

    def log(self, logs, start_time=None):
        if "loss" in logs:
            total = self.flush_tokens()
            now = time.perf_counter()
            t0, n0 = self._last_log
            if now > t0:
                logs["tokens_per_second"] = round((total - n0) / (now - t0), 1)
            self._last_log = (now, total)
        return super().log(logs, start_time)

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix="eval"):
        out = super().evaluation_loop(dataloader, description, prediction_loss_only=True,
                                      ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        if metric_key_prefix == "eval" and self.dev_sets:
            out.metrics.update(self.generation_metrics(metric_key_prefix))
        return out

    def generation_metrics(self, prefix: str = "eval") -> dict:
        """Decode the bounded dev subset per direction and score it; every process scores the same subset."""
        model = self.accelerator.unwrap_model(self.model)
        metrics, chrfs, bleus = {}, [], []
        with self.autocast_smart_context_manager():
            for direction, (srcs, refs) in self.dev_sets.items():
                src, tgt = data_mod.parse_direction(direction)
                hyps = generate_texts(model, self.processing_class, srcs, src, tgt,
                                      num_beams=self.args.generation_num_beams or 1,
                                      batch_size=self.args.per_device_eval_batch_size,
                                      max_new_tokens=self.args.generation_max_length or 128)
                s = score(hyps, refs, tgt)
                key = direction.replace("-", "_")
                metrics[f"{prefix}_chrf_{key}"] = s["chrf"]
                metrics[f"{prefix}_bleu_{key}"] = s["bleu"]
                self.signatures[direction] = s["signatures"]
                chrfs.append(s["chrf"])
                bleus.append(s["bleu"])
        metrics[f"{prefix}_chrf"] = sum(chrfs) / len(chrfs)
        metrics[f"{prefix}_bleu"] = sum(bleus) / len(bleus)
        return metrics
