"""``pixelwise predict --engine ray``: local predict's plan and writer, spread over Ray.

The driver (this process) lists the INPUTs (names only) and keeps every check and
decision of local predict (:mod:`pixelwise.inference.plan`); the cluster does the
reading and the work, in two Ray Data pipelines:

1. inspect: the file list, split into blocks across the cluster; tasks read each file's
   header and the receipt of its earlier outputs (:func:`~pixelwise.inference.plan.inspect_input`).
   The driver then plans the run as local predict does: bad files refused or logged,
   outputs checked against inputs, complete images skipped.
2. work: the images to do, in local predict's batches (whole images of one size, up to
   ``--batch-size``; tiled images one by one); tasks decode each batch with the
   project's reader, and an actor pool of ``workers`` actors, each holding the model once
   (any backend), predicts and writes every output atomically with
   :class:`~pixelwise.inference.writer.PredictionWriter`: the same files, byte for byte,
   as local predict on the same device and backend.

The driver follows the results (a progress bar with images per second and the workers),
applies the ``--skip-bad`` rule to images that fail while decoding, and writes
``summary.jsonl`` and ``errors.jsonl``. Rows travel between stages as pickled bytes.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from pixelwise.allocator import keep_freed_memory
from pixelwise.data.reader import ReadOptions
from pixelwise.distributed.cluster import (
    RayPredictOptions,
    connect,
    quiet_data_context,
    total_cpus,
)
from pixelwise.errors import PixelwiseError
from pixelwise.inference.options import PredictOptions
from pixelwise.inference.plan import (
    ImagePlan,
    Inspection,
    RunSetup,
    inspect_input,
    model_fingerprint,
    plan_run,
    prepare,
    whole_batches,
)
from pixelwise.inference.predict import PredictReport, RunProgress
from pixelwise.inference.segmenter import Segmenter
from pixelwise.inference.writer import PredictionWriter, Written, decode_plan

JOBS_PER_BLOCK = 4
"""Batches (jobs) per Ray Data block of the work pipeline: a read task decodes this many."""

Job = list[ImagePlan]
"""Whole images predicted in one forward pass, or one tiled image."""

Outcome = Written | str
"""What became of one image of a job: written, or the reason it could not be predicted."""


@dataclass(frozen=True)
class JobResult:
    """A job's outcomes, one per image; or ``error``: a user error that stops the run (as
    it would stop local predict), e.g. an output that cannot be written."""

    outcomes: list[Outcome]
    error: str | None = None


# --- 1: inspecting the inputs across the cluster ---------------------------------------


def _inspect_block(batch: dict[str, np.ndarray], setup: RunSetup) -> dict[str, np.ndarray]:
    """A Ray Data task: the pickled inspection of every path of ``batch``."""
    found = [pickle.dumps(inspect_input(Path(path), setup)) for path in batch["path"]]
    return {"index": batch["index"], "inspection": np.array(found, dtype=object)}


def _inspect_on_cluster(
    ray: Any, files: Sequence[Path], setup: RunSetup, progress: bool
) -> list[Inspection]:
    """Every input's inspection, in input order, read by tasks across the cluster."""
    items = [{"index": index, "path": str(file)} for index, file in enumerate(files)]
    blocks = min(len(items), 4 * total_cpus(ray))
    dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _inspect_block, fn_kwargs={"setup": setup}, batch_format="numpy"
    )
    found: list[Inspection | None] = [None] * len(files)
    with tqdm(total=len(files), desc="checking headers", disable=not progress, leave=False) as bar:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for index, data in zip(batch["index"], batch["inspection"], strict=True):
                found[int(index)] = pickle.loads(data)
            bar.update(len(batch["index"]))
    return [inspection for inspection in found if inspection is not None]


# --- 2: the work ---------------------------------------------------------------------


def _jobs(segmenter: Segmenter, todo: Sequence[ImagePlan], options: PredictOptions) -> list[Job]:
    """The images to do as local predict groups them: whole images in batches, then each
    tiled image alone."""
    whole = [plan for plan in todo if not plan.tiled]
    batches = [[whole[i] for i in batch] for batch in whole_batches(segmenter, whole, options)]
    return batches + [[plan] for plan in todo if plan.tiled]


def _decode_job(row: dict[str, Any], channels: int, read: ReadOptions) -> dict[str, Any]:
    """A Ray Data task: decode a job's whole images; per image its pixels ``(H, W, C)``
    uint8, or the reason it cannot be decoded (tiled images are read later, by region)."""
    job: Job = pickle.loads(row["job"])
    decoded: list[np.ndarray | str | None] = []
    for plan in job:
        if plan.tiled:
            decoded.append(None)
            continue
        try:
            decoded.append(decode_plan(plan, channels, read))
        except PixelwiseError as error:
            decoded.append(str(error))
    return {"index": row["index"], "job": row["job"], "decoded": pickle.dumps(decoded)}


class _Predictor:
    """A Ray Data actor: loads the model once, then predicts and writes jobs."""

    def __init__(
        self,
        model_path: str,
        backend: str | None,
        setup: RunSetup,
        options: PredictOptions,
    ) -> None:
        keep_freed_memory()  # the actor's process serves this prediction only, as the command's
        segmenter = Segmenter.load(model_path, backend=backend)
        self.writer = PredictionWriter(segmenter, setup.out, options, setup.settings, setup.read)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcomes = [
            pickle.dumps(self._job(pickle.loads(job), pickle.loads(decoded)))
            for job, decoded in zip(batch["job"], batch["decoded"], strict=True)
        ]
        return {"index": batch["index"], "outcomes": np.array(outcomes, dtype=object)}

    def _job(self, job: Job, decoded: list[np.ndarray | str | None]) -> JobResult:
        if len(job) == 1 and job[0].tiled:
            try:  # as locally, a tiled image that fails is a bad input
                return JobResult([self.writer.tiled(job[0])])
            except PixelwiseError as error:
                return JobResult([str(error)])
        ready = [(plan, pixels) for plan, pixels in zip(job, decoded, strict=True)
                 if isinstance(pixels, np.ndarray)]  # fmt: skip
        try:
            written = iter(self.writer.whole(ready) if ready else [])
        except PixelwiseError as error:
            return JobResult([], str(error))
        return JobResult(
            [pixels if isinstance(pixels, str) else next(written) for pixels in decoded]
        )


def _work_on_cluster(
    ray: Any,
    jobs: Sequence[Job],
    predictor: dict[str, Any],
    channels: int,
    cluster: RayPredictOptions,
) -> Iterator[tuple[ImagePlan, Outcome]]:
    """Decode and predict ``jobs`` on the cluster; yield each image's outcome as it comes."""
    if not jobs:
        return
    items = [{"index": index, "job": pickle.dumps(job)} for index, job in enumerate(jobs)]
    blocks = min(len(items), max(cluster.workers, math.ceil(len(items) / JOBS_PER_BLOCK)))
    dataset = (
        ray.data.from_items(items, override_num_blocks=blocks)
        .map(_decode_job, fn_kwargs={"channels": channels, "read": predictor["setup"].read})
        .map_batches(
            _Predictor,
            fn_constructor_kwargs=predictor,
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=cluster.workers),
            num_cpus=cluster.cpus_per_worker,
            num_gpus=cluster.gpus_per_worker,
        )
    )
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for index, data in zip(batch["index"], batch["outcomes"], strict=True):
            result: JobResult = pickle.loads(data)
            if result.error is not None:
                raise PixelwiseError(result.error)
            yield from zip(jobs[int(index)], result.outcomes, strict=True)


def predict_on_ray(
    model_path: str | Path,
    inputs: Iterable[str | Path],
    out: str | Path,
    options: PredictOptions | None = None,
    backend: str | None = None,
    cluster: RayPredictOptions | None = None,
) -> PredictReport:
    """Predict every image that ``inputs`` name into ``out`` on a Ray cluster: the same
    checks, files, resume and ``skip_bad`` rule as
    :func:`~pixelwise.inference.predict.predict_images` (see the module docstring).

    ``backend`` runs the network in every worker (see
    :mod:`pixelwise.inference.backends`); ``cluster`` says where and with what resources.
    """
    options = options or PredictOptions()
    cluster = cluster or RayPredictOptions()
    ray = connect(cluster.address)
    segmenter = Segmenter.load(model_path, backend=backend)
    listed, setup = prepare(segmenter, inputs, out, options, model_fingerprint(model_path))
    with quiet_data_context():
        inspections = _inspect_on_cluster(ray, listed.files, setup, options.progress)
        run = plan_run(segmenter, listed, inspections, setup, options)
        progress = RunProgress(run, options, detail=f"{cluster.workers} Ray workers")
        predictor = {
            "model_path": str(model_path),
            "backend": backend,
            "setup": setup,
            "options": options,
        }
        jobs = _jobs(segmenter, run.todo, options)
        try:
            channels = segmenter.info.channels
            for plan, outcome in _work_on_cluster(ray, jobs, predictor, channels, cluster):
                if isinstance(outcome, str):
                    progress.bad(plan.path, outcome)
                else:
                    progress.done(plan, outcome)
        finally:
            report = progress.finish(listed.files, setup.out)
    return report
