"""The ModelHandler of every model stage (RunInference under ApplyStep).

A module of its own because Beam's inference module imports torch: stages
without a model never load it.
"""
from __future__ import annotations

from apache_beam.ml.inference.base import ModelHandler

from xlaug.transforms.stage import ModelStep


class StepModelHandler(ModelHandler):
    """RunInference handler for any ModelStep.  Examples are ``(records,
    context)`` batches cut by ApplyStep; the prediction of each is the list
    of the step's output items (records and rejections), routed afterwards.

    ``load_model`` goes through the per-process cache, so every DoFn, thread
    and stage of a process that needs the same model shares one copy, and
    torch's threads are set once, before the first model loads."""

    def __init__(self, step: ModelStep):
        super().__init__(large_model=step.large_model)
        self.step = step
        self._ready = False

    def load_model(self):
        return self.step.shared_model()

    def run_inference(self, batch, model, inference_args=None):
        if not self._ready:
            self.step.setup()
            self._ready = True
        records, context = batch
        # One prediction per batch, the batch's output items as one list (routed
        # afterwards): an element per record between the two steps cost more.
        return [list(self.step.process_batch(records, context, model))]

    def should_skip_batching(self) -> bool:
        return True  # ApplyStep cut the batches already

    def get_num_bytes(self, batch) -> int:
        return len(batch[0])  # records, not pickled bytes: measuring would cost a pickling

    def get_metrics_namespace(self) -> str:
        return f"xlaug_{self.step.name}"
