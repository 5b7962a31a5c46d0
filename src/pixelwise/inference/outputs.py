"""The files that predicting one image writes, and the receipt that marks them as complete.

For an image ``<stem>`` in ``OUT``:

- ``OUT/<stem>.png``: class labels (pixel value = class index) with the model's class
  colours as the palette; 16-bit gray without palette for more than 256 classes.
- ``OUT/overlay/<stem>.png``: the label colours blended over the image.
- ``OUT/confidence/<stem>.png``: the top class probability × 255, uint8.
- ``OUT/probabilities/<stem>.npy``: every class probability, ``(H, W, K)`` float16
  (written only for at most :data:`PROBABILITY_CLASS_LIMIT` classes).
- ``OUT/quantized/<stem>.png``: k-means models only, each pixel in its cluster's colour.

An image with more pixels than the pixel limit (which PNG readers would refuse) gets
tiled, zlib-compressed TIFFs (``.tif``) instead, written band by band as rows arrive:
labels (with the palette as a TIFF colormap), confidence, and a ``K``-band float16
probability TIFF. Each output kind has its own folder, so no output name can collide
with another output or with a label.

Every file is written to a temporary name and renamed into place. The label file is
renamed first and carries a :class:`Receipt` (a PNG text chunk or the TIFF description):
the input it came from, the settings, and the size and SHA-256 digest of every other
output. An image is complete when its receipt matches and every output it lists is in
place unchanged, so a partly written image never looks complete. The receipt holds
nothing that depends on when, where or by which engine the image was predicted (no
clock times, no output modification times), so the same input and settings give the
same label file byte for byte, locally or on a cluster.

:class:`EncodedOutputs` makes the PNG outputs of one image in memory (for ``pixelwise
serve``) with the same encoder: its label PNG is byte for byte the label file that
:class:`ImageOutputs` writes, less the receipt chunk (:func:`without_receipt`).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import tifffile
import torch

from pixelwise.data.base import DatasetInfo
from pixelwise.data.io import encode_png
from pixelwise.data.png_chunks import remove_text_chunk
from pixelwise.data.reader import open_pil
from pixelwise.errors import PixelwiseError
from pixelwise.files import atomic_file, write_bytes_atomic
from pixelwise.inference.segmenter import label_dtype
from pixelwise.metrics.inputs import predicted_labels
from pixelwise.report.overlay import overlay

RECEIPT_KEY = "pixelwise-predict"
PROBABILITY_CLASS_LIMIT = 32
"""Full class probabilities are written for at most this many classes."""
TIFF_TILE = (256, 256)
PNG_KINDS = ("labels", "overlay", "confidence", "quantized")
"""The output kinds that are PNG images (whenever the image is within the pixel limit)."""


@dataclass(frozen=True)
class OutputRequest:
    """Which outputs besides the labels: ``overlay``, ``probabilities`` (confidence and, for
    few classes, every class probability), ``quantized`` (k-means models)."""

    overlay: bool = False
    probabilities: bool = False
    quantized: bool = False

    def kinds(self, num_classes: int) -> list[str]:
        """The output kinds, labels first."""
        kinds = ["labels"]
        if self.overlay:
            kinds.append("overlay")
        if self.probabilities:
            kinds.append("confidence")
            if num_classes <= PROBABILITY_CLASS_LIMIT:
                kinds.append("probabilities")
        if self.quantized:
            kinds.append("quantized")
        return kinds


def output_paths(out: Path, stem: str, kinds: list[str], as_tiff: bool) -> dict[str, Path]:
    """Where each kind of output of image ``stem`` goes: labels in ``out``, every other kind
    in the folder of its name (see the module docstring)."""
    image_suffix = ".tif" if as_tiff else ".png"
    paths = {}
    for kind in kinds:
        if kind == "labels":
            paths[kind] = out / f"{stem}{image_suffix}"
        else:
            suffix = ".npy" if kind == "probabilities" and not as_tiff else image_suffix
            paths[kind] = out / kind / f"{stem}{suffix}"
    return paths


@dataclass(frozen=True)
class Receipt:
    """What the label file of a completed image records: a function of the input file and
    the settings alone.

    ``input``: the resolved input path, with its size and modification time; ``settings``:
    the fingerprint of the model and options; ``outputs``: kind -> ``{"path"`` (relative to
    OUT), ``"bytes"``, ``"sha256"}`` of every other output; ``summary``: the input as
    given, the label file (relative to OUT), size, tiled or not, class fractions.
    """

    input: str
    input_bytes: int
    input_mtime_ns: int
    settings: str
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_text(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> Receipt:
        """The receipt written as ``text``; ``ValueError`` unless every field has the type
        and form that pixelwise writes (an output path is relative, inside OUT)."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or set(raw) != {f.name for f in fields(cls)}:
            raise ValueError("not a receipt")
        receipt = cls(**raw)
        typed = (
            isinstance(receipt.input, str)
            and isinstance(receipt.settings, str)
            and all(_is_count(v) for v in (receipt.input_bytes, receipt.input_mtime_ns))
            and isinstance(receipt.summary, dict)
            and isinstance(receipt.outputs, dict)
            and all(_is_output_record(record) for record in receipt.outputs.values())
        )
        if not typed:
            raise ValueError("malformed receipt")
        return receipt

    @classmethod
    def for_input(cls, path: Path, settings: str) -> Receipt:
        stat = path.stat()
        return cls(str(path.resolve()), stat.st_size, stat.st_mtime_ns, settings)

    def same_input(self, other: Receipt) -> bool:
        return (self.input, self.input_bytes, self.input_mtime_ns) == (
            other.input,
            other.input_bytes,
            other.input_mtime_ns,
        )

    def outputs_in_place(self, out: Path) -> bool:
        """Whether every listed output exists with the recorded size and digest (each is
        read back: an output left by an earlier run has the same size, not the same bytes)."""
        for record in self.outputs.values():
            path = out / record["path"]
            size, digest = record.get("bytes"), record.get("sha256")
            try:
                if path.stat().st_size != size or file_sha256(path) != digest:
                    return False
            except OSError:
                return False
        return True


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_output_record(record: object) -> bool:
    """An output's record: a relative ``path`` inside OUT, its ``bytes`` and ``sha256``."""
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        return False
    path = PurePosixPath(record["path"])
    inside = not path.is_absolute() and ".." not in path.parts and path.parts != ()
    return inside and _is_count(record.get("bytes")) and isinstance(record.get("sha256"), str)


def file_sha256(path: Path) -> str:
    """The SHA-256 digest of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_receipt(label: Path) -> Receipt | None:
    """The receipt in a label file written by pixelwise, or ``None`` (no file, or not ours)."""
    try:
        if label.suffix == ".tif":
            with tifffile.TiffFile(label) as tiff:
                text = tiff.pages[0].description
        else:
            with open_pil(label) as image:
                text = image.info.get(RECEIPT_KEY, "")
        return Receipt.from_text(text)
    except (OSError, ValueError, TypeError, PixelwiseError, tifffile.TiffFileError):
        return None


# --- writers: rows in, one file out -----------------------------------------------------


def without_receipt(png: bytes) -> bytes:
    """A label PNG's bytes without its receipt chunk: what :class:`EncodedOutputs` gives."""
    return remove_text_chunk(png, RECEIPT_KEY)


class _ArrayRows:
    """Collects rows into a whole ``(H, W[, 3])`` array and encodes it as a PNG."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, palette=None) -> None:
        self.array = np.zeros(shape, dtype)
        self.palette = palette

    def put(self, first_row: int, rows: np.ndarray) -> None:
        self.array[first_row : first_row + rows.shape[0]] = rows

    def png(self, text: str | None = None) -> bytes:
        """The PNG bytes; ``text``, when given, as the receipt chunk."""
        palette = self.palette if self.array.dtype == np.uint8 else None
        return encode_png(self.array, palette, {RECEIPT_KEY: text} if text else None)

    def close(self) -> None:
        """Nothing to stop."""


class _ArrayWriter(_ArrayRows):
    """An :class:`_ArrayRows` whose PNG is written to ``temporary`` at the end."""

    def __init__(self, temporary: Path, shape: tuple[int, ...], dtype: np.dtype, palette=None):
        super().__init__(shape, dtype, palette)
        self.temporary = temporary

    def finish(self, text: str | None = None) -> None:
        write_bytes_atomic(self.temporary, self.png(text))


class _NpyWriter:
    """Streams ``(H, W, K)`` float16 rows into a ``.npy`` file, top to bottom."""

    def __init__(self, temporary: Path, shape: tuple[int, int, int]) -> None:
        self.temporary = temporary
        self.handle = open(temporary, "wb")  # noqa: SIM115 - closed by finish/close
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f2")), "fortran_order": False}
        np.lib.format.write_array_header_2_0(self.handle, {**header, "shape": shape})

    def put(self, first_row: int, rows: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(rows, "<f2").tobytes())

    def finish(self, text: str | None = None) -> None:
        self.handle.close()

    def close(self) -> None:
        self.handle.close()


_END = object()


class _TiffWriter:
    """Streams rows into a tiled, zlib-compressed TIFF from a writer thread.

    ``tifffile`` pulls tiles from a generator; rows are handed over through a queue of at
    most two chunks, so memory stays at one row of tiles plus two chunks.
    """

    def __init__(
        self,
        temporary: Path,
        shape: tuple[int, ...],
        dtype: np.dtype,
        colormap: np.ndarray | None = None,
    ) -> None:
        self.temporary = temporary
        self.width = shape[1]
        self.rows: queue.Queue = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        options: dict[str, Any] = {
            "shape": shape,
            "dtype": dtype,
            "tile": TIFF_TILE,
            "compression": "zlib",
            "metadata": None,
            "description": "",
            "bigtiff": int(np.prod(shape)) * np.dtype(dtype).itemsize > 2**31,
        }
        if colormap is not None:
            options |= {"photometric": "palette", "colormap": colormap}
        elif len(shape) == 3:
            photometric = "rgb" if shape[2] == 3 and dtype == np.uint8 else "minisblack"
            options |= {"photometric": photometric, "planarconfig": "contig"}
        else:
            options["photometric"] = "minisblack"
        self.thread = threading.Thread(target=self._write, args=(options,), daemon=True)
        self.thread.start()

    def _write(self, options: dict[str, Any]) -> None:
        try:
            tifffile.imwrite(self.temporary, self._tiles(), **options)
        except BaseException as error:  # handed to the caller in finish()
            self.error = error

    def _tiles(self) -> Iterator[np.ndarray]:
        tile_h, tile_w = TIFF_TILE
        pending: list[np.ndarray] = []
        held = 0
        while True:
            rows = self.rows.get()
            if rows is _END or rows is None:
                if rows is None:
                    raise RuntimeError("prediction stopped")
                break
            pending.append(rows)
            held += rows.shape[0]
            while held >= tile_h:
                band = np.concatenate(pending)
                yield from self._row_of_tiles(band[:tile_h], tile_w)
                pending, held = [band[tile_h:]], held - tile_h
        if held:
            yield from self._row_of_tiles(np.concatenate(pending), tile_w)

    def _row_of_tiles(self, band: np.ndarray, tile_w: int) -> Iterator[np.ndarray]:
        for x in range(0, self.width, tile_w):
            yield band[:, x : x + tile_w]

    def put(self, first_row: int, rows: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.rows.put(np.ascontiguousarray(rows))

    def finish(self, text: str | None = None) -> None:
        self.rows.put(_END)
        self.thread.join()
        if self.error is not None:
            raise PixelwiseError(f"cannot write '{self.temporary}': {self.error}")
        if text:
            tifffile.tiffcomment(self.temporary, comment=text)

    def close(self) -> None:
        if self.thread.is_alive():
            self.rows.put(None)
            self.thread.join()


def _colormap(info: DatasetInfo) -> np.ndarray | None:
    """The class colours as a 16-bit TIFF colormap ``(3, 256)``, for at most 256 classes."""
    if info.num_classes > 256:
        return None
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, : info.num_classes] = np.asarray(info.colours, np.uint16).T * 257
    return colormap


def _shape(kind: str, height: int, width: int, classes: int) -> tuple[tuple[int, ...], np.dtype]:
    """The array shape and dtype of one output kind of a ``height × width`` image."""
    shapes = {
        "labels": ((height, width), label_dtype(classes)),
        "confidence": ((height, width), np.dtype(np.uint8)),
        "overlay": ((height, width, 3), np.dtype(np.uint8)),
        "quantized": ((height, width, 3), np.dtype(np.uint8)),
        "probabilities": ((height, width, classes), np.dtype(np.float16)),
    }
    return shapes[kind]


class RowOutputs:
    """Turns a prediction's rows into the rows of each output kind and counts the classes.

    Subclasses fill ``_writers`` (kind -> an object with ``put(first_row, rows)``).
    """

    def __init__(self, info: DatasetInfo) -> None:
        self.info = info
        self.counts = np.zeros(info.num_classes, np.int64)
        self._writers: dict[str, Any] = {}
        self.region: np.ndarray | None = None
        self.fill = 0

    def restrict(self, region: np.ndarray, fill: int) -> None:
        """Label every pixel outside ``region`` ``(H, W)`` bool ``fill`` (the ignore index,
        or 0); the class fractions then count the pixels inside only (and ``fill`` when
        it is a class)."""
        self.region, self.fill = region, fill

    @property
    def needs_pixels(self) -> bool:
        """Whether :meth:`put` needs the image's pixels (for the overlay)."""
        return "overlay" in self._writers

    def put(
        self,
        first_row: int,
        labels: np.ndarray,
        probabilities: torch.Tensor | None = None,
        pixels: np.ndarray | None = None,
        quantized: np.ndarray | None = None,
    ) -> None:
        """Hand over rows ``first_row..`` : ``labels (n, W)``, their ``probabilities (K, n, W)``
        (networks), the image's ``pixels (n, W, C)`` (for the overlay), ``quantized (n, W, 3)``.
        """
        if self.region is not None:
            inside = self.region[first_row : first_row + labels.shape[0]]
            labels = np.where(inside, labels, self.fill).astype(labels.dtype)
        classes = labels[labels < self.info.num_classes]
        self.counts += np.bincount(classes.ravel(), minlength=self.info.num_classes)
        rows = {"labels": labels, "quantized": quantized}
        if "overlay" in self._writers:
            rows["overlay"] = overlay(pixels, labels, self.info.colours)
        if probabilities is not None:
            top = probabilities.amax(dim=0)
            rows["confidence"] = (top * 255).round_().to(torch.uint8).numpy()
            rows["probabilities"] = probabilities.permute(1, 2, 0).half().numpy()
        for kind, writer in self._writers.items():
            writer.put(first_row, rows[kind])

    def class_fractions(self) -> dict[str, float]:
        total = max(int(self.counts.sum()), 1)
        return {
            name: int(n) / total for name, n in zip(self.info.classes, self.counts, strict=True)
        }


class EncodedOutputs(RowOutputs):
    """One image's PNG outputs in memory (``kinds`` from :data:`PNG_KINDS`).

    :meth:`png` encodes a kind exactly as :class:`ImageOutputs` writes its file; the label
    PNG has no receipt.
    """

    def __init__(self, kinds: Sequence[str], height: int, width: int, info: DatasetInfo) -> None:
        super().__init__(info)
        for kind in kinds:
            if kind not in PNG_KINDS:
                raise ValueError(f"unknown in-memory output {kind!r}; choose from {PNG_KINDS}")
            shape, dtype = _shape(kind, height, width, info.num_classes)
            palette = info.colours if kind == "labels" else None
            self._writers[kind] = _ArrayRows(shape, dtype, palette)

    @property
    def labels(self) -> np.ndarray:
        """The class labels ``(H, W)`` (:func:`~pixelwise.inference.segmenter.label_dtype`)."""
        return self._writers["labels"].array

    def png(self, kind: str) -> bytes:
        """The PNG bytes of ``kind``."""
        return self._writers[kind].png()


class ImageOutputs(RowOutputs):
    """Writes one image's outputs as rows arrive; a context manager.

    Leaving the ``with`` block normally after :meth:`finish` renames the label file into
    place first, then the others; leaving it on an exception removes every temporary file
    and leaves ``OUT`` as it was.
    """

    def __init__(
        self, paths: dict[str, Path], height: int, width: int, info: DatasetInfo, as_tiff: bool
    ) -> None:
        super().__init__(info)
        self.paths = paths
        self._stack = ExitStack()
        for kind in sorted(paths, key=lambda k: k == "labels"):  # labels last: renamed first
            temporary = self._stack.enter_context(atomic_file(paths[kind]))
            self._writers[kind] = self._writer(kind, temporary, height, width, as_tiff)

    def _writer(self, kind: str, temporary: Path, height: int, width: int, as_tiff: bool):
        shape, dtype = _shape(kind, height, width, self.info.num_classes)
        colormap = _colormap(self.info) if kind == "labels" else None
        if as_tiff:
            return _TiffWriter(temporary, shape, dtype, colormap)
        if kind == "probabilities":
            return _NpyWriter(temporary, shape)
        palette = self.info.colours if kind == "labels" else None
        return _ArrayWriter(temporary, shape, dtype, palette)

    def __enter__(self) -> ImageOutputs:
        return self

    def __exit__(self, *exc: Any) -> bool:
        for writer in self._writers.values():
            writer.close()
        return self._stack.__exit__(*exc)

    def finish(self, receipt: Receipt, out: Path) -> Receipt:
        """Complete every file; the label file gets ``receipt`` with the others' records."""
        records = {}
        for kind, writer in self._writers.items():
            if kind == "labels":
                continue
            writer.finish()
            records[kind] = {
                "path": self.paths[kind].relative_to(out).as_posix(),
                "bytes": writer.temporary.stat().st_size,
                "sha256": file_sha256(writer.temporary),
            }
        receipt = Receipt(**{**asdict(receipt), "outputs": records})
        self._writers["labels"].finish(receipt.to_text())
        return receipt


def labels_from(probabilities: torch.Tensor, num_classes: int) -> np.ndarray:
    """``(K, n, W)`` probabilities -> ``(n, W)`` labels as :func:`label_dtype` (lowest class
    wins ties, as ``torch.argmax``)."""
    labels = predicted_labels(probabilities[None], num_classes, torch.int64)[0]
    return labels.numpy().astype(label_dtype(num_classes))
