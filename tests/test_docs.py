"""The documentation's examples work: README.md and docs/*.md are read and their code checked.

- Every ``pixelwise ...`` line of a ```bash (sh, shell) block is parsed by the real
  parser, its run options checked as the commands check them (values, names of models,
  datasets, losses and methods, model options on a shape-only model); a
  ``--config FILE`` must exist.
- Blocks after ``<!-- run -->`` are run, line by line, through ``pixelwise.cli.main`` in a
  temporary folder (one folder per page, blocks in page order), and must exit 0.
- ```python blocks are executed, each in a fresh namespace in a temporary folder; after
  ``<!-- needs data -->`` (real datasets, downloads) they are only compiled.
- ```yaml blocks must parse; those with a run configuration's top-level keys (``model``,
  ``data``, ...) must load as one.
- docs/cli.md and the options table of docs/training.md are what
  docs/make_cli_reference.py writes now.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import io
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch
import yaml

from pixelwise.classical import build as build_method
from pixelwise.cli import build_parser, main
from pixelwise.config import RunConfig, load_config, merge
from pixelwise.data.augment import build_augmentation
from pixelwise.data.registry import list_datasets
from pixelwise.errors import PixelwiseError
from pixelwise.flags import run_overrides
from pixelwise.inference.threads import torch_threads
from pixelwise.losses import parse_loss_spec
from pixelwise.models import build_model
from scripts import load_script

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN, NEEDS_DATA = "<!-- run -->", "<!-- needs data -->"
MARKERS = (RUN, NEEDS_DATA)
FENCE = re.compile(r"^(\s*)(```+)\s*([\w-]*)\s*$")
OPTIONS_BEGIN, OPTIONS_END = "<!-- run options: begin -->", "<!-- run options: end -->"
RUN_OPTION_COMMANDS = {
    "train": "train",
    "evaluate": "evaluate",
    "summary": "summary",
    "data": "inspect",
}
"""The commands whose run options ``run_overrides`` reads, by their first word."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts (the line after the fence), its language and text."""

    page: Path
    line: int
    lang: str
    lines: tuple[str, ...]
    marker: str | None

    def where(self, offset: int = 0) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line + offset}"


def read_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with the marker comment just above it, if any."""
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence, lang = opening.groups()
        above = [line.strip() for line in lines[:index] if line.strip()]
        marker = above[-1] if above and above[-1] in MARKERS else None
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            pytest.fail(f"{page.relative_to(REPO)}:{index + 1}: unclosed code fence")
        body = tuple(line.removeprefix(indent) for line in lines[index + 1 : end])
        blocks.append(Block(page, index + 2, lang, body, marker))
        index = end + 1
    return blocks


def command_lines(block: Block) -> Iterator[tuple[int, list[str]]]:
    """``(line offset, words)`` of every shell command in a bash block.

    ``\\`` continuations are joined and ``# comments`` dropped; commands chained with
    ``&&`` or ``;`` come one by one, and leading ``VAR=value`` words are dropped.
    """
    start, parts = 0, []
    for offset, line in enumerate(block.lines):
        if not parts:
            start = offset
        parts.append(line.rstrip().removesuffix("\\"))
        if line.rstrip().endswith("\\"):
            continue
        words = shlex.split(" ".join(parts), comments=True)
        parts = []
        command: list[str] = []
        for word in [*words, ";"]:
            if word in ("&&", ";", "||"):
                while command and re.fullmatch(r"[A-Z_]+=\S*", command[0]):
                    command.pop(0)
                if command:
                    yield start, command
                command = []
            else:
                command.append(word)


def pixelwise_argv(words: list[str]) -> list[str] | None:
    """The words after ``pixelwise`` (or ``python -m pixelwise``); None for other commands."""
    if words[:1] == ["pixelwise"]:
        return words[1:]
    if words[:3] == ["python", "-m", "pixelwise"]:
        return words[3:]
    return None


def all_blocks() -> list[Block]:
    return [block for page in PAGES for block in read_blocks(page)]


SHELLS = ("bash", "sh", "shell")
"""Languages whose blocks hold shell commands (parsed when they call pixelwise)."""


def blocks_of(*langs: str) -> list[Block]:
    return [block for block in all_blocks() if block.lang in langs]


def block_id(block: Block) -> str:
    return block.where()


def _fail_unless_known(name: str, known: dict[str, str], what: str) -> None:
    if name not in known:
        raise PixelwiseError(f"unknown {what} {name!r}; known: {', '.join(known)}")


def _check_model(name: str, encoder: str | None, options: dict, num_classes: int = 2) -> None:
    """Build the model on the ``meta`` device: names, options and bounds, no memory."""
    if encoder is not None and encoder.startswith("timm:"):
        return
    with torch.device("meta"):
        build_model(name, num_classes=num_classes, encoder=encoder, **options)


def check_config(config: RunConfig) -> None:
    """What ``train`` checks of a configuration without reading data."""
    _fail_unless_known(config.data.name, list_datasets(), "dataset")
    build_augmentation(config.data.augment, config.data.crop, 255, 0)
    if config.method.name is not None:
        build_method(config.method.name, **config.method.params)
        return
    parse_loss_spec(config.train.loss)
    _check_model(config.model.name, config.model.encoder, config.model.options)


def _check_train(args: argparse.Namespace, overrides: dict, where: str) -> None:
    config = RunConfig()
    if args.config:
        path = REPO / args.config
        if not path.is_file():
            pytest.fail(f"{where}: --config {args.config} does not exist in the repository")
        config = load_config(path)
    check_config(merge(config, overrides))


def check_command(argv: list[str], where: str) -> None:
    """Parse ``argv`` as the CLI does and check every run option it sets."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            args = build_parser().parse_args(argv)
    except SystemExit as exit:
        if exit.code == 0:  # --help, --version
            return
        pytest.fail(f"{where}: pixelwise {shlex.join(argv)}\n{errors.getvalue()}")
    command = RUN_OPTION_COMMANDS.get(args.command)
    if command is None:
        return
    try:
        overrides = run_overrides(args, command)
        if "data.name" in overrides:
            _fail_unless_known(overrides["data.name"], list_datasets(), "dataset")
        if command == "train":
            _check_train(args, overrides, where)
        elif command == "summary":
            options = {
                key.removeprefix("model.options."): value
                for key, value in overrides.items()
                if key.startswith("model.options.")
            }
            encoder = overrides.get("model.encoder")
            _check_model(args.model, encoder, options, args.num_classes)
    except PixelwiseError as err:
        pytest.fail(f"{where}: pixelwise {shlex.join(argv)}\nerror: {err}")


@pytest.mark.parametrize("block", blocks_of(*SHELLS), ids=block_id)
def test_commands_parse(block: Block) -> None:
    for offset, words in command_lines(block):
        argv = pixelwise_argv(words)
        if argv is not None:
            check_command(argv, block.where(offset))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread while examples run: tiny models, on shared CPUs, run far faster."""
    with torch_threads(1):
        yield


def _run_pages() -> list[Path]:
    return [page for page in PAGES if any(b.marker == RUN for b in read_blocks(page))]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("page", _run_pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_run_blocks_succeed(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    for block in read_blocks(page):
        if block.marker != RUN:
            continue
        if block.lang == "python":
            exec(compiled(block), {"__name__": "__docs__"})
            continue
        assert block.lang in SHELLS, f"{block.where()}: only shell and python blocks can be run"
        for offset, words in command_lines(block):
            argv = pixelwise_argv(words)
            assert argv is not None, f"{block.where(offset)}: a run block holds pixelwise only"
            status = main(argv)
            output = capsys.readouterr()
            assert status == 0, (
                f"{block.where(offset)}: pixelwise {shlex.join(argv)} exited {status}\n"
                f"{output.err[-2000:]}"
            )


def compiled(block: Block) -> object:
    """The block's code, compiled with the page's line numbers (for tracebacks)."""
    source = "\n" * (block.line - 1) + "\n".join(block.lines) + "\n"
    return compile(source, str(block.page), "exec")


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("block", blocks_of("python"), ids=block_id)
def test_python_blocks_run(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block alone, in a fresh folder; ``run`` blocks run with their page instead."""
    code = compiled(block)
    if block.marker in (NEEDS_DATA, RUN):
        return
    monkeypatch.chdir(tmp_path)
    exec(code, {"__name__": "__docs__"})


@pytest.mark.parametrize("block", blocks_of("yaml"), ids=block_id)
def test_yaml_blocks_are_run_configurations(block: Block) -> None:
    raw = yaml.safe_load("\n".join(block.lines))
    run_keys = {field.name for field in dataclasses.fields(RunConfig)}
    if not (isinstance(raw, dict) and run_keys & set(raw)):
        return  # YAML of another kind: it parsed
    try:
        check_config(RunConfig.from_dict(raw, source=block.where()))
    except PixelwiseError as err:
        pytest.fail(f"{block.where()}: {err}")


def test_code_blocks_name_their_language() -> None:
    """Shell, python and yaml blocks are checked, others (text, json, ...) shown only; a
    block without a language would escape the checks unseen."""
    for block in all_blocks():
        assert block.lang, f"{block.where()}: name the code block's language (```bash, ```text)"


def _offered() -> dict[str, set[str]]:
    """Page -> the names the code offers that the page must mention (as `name`)."""
    from pixelwise.classical import list_methods
    from pixelwise.classical.registry import method_class
    from pixelwise.config import WEIGHT_METHODS
    from pixelwise.data.augment import STEPS
    from pixelwise.data.registry import DATASETS
    from pixelwise.losses import LOSS_NAMES
    from pixelwise.models import list_models

    interface = {"name", "num_classes", "in_channels", "split", "root"}
    models = set(list_models())
    for name in list_models():
        with torch.device("meta"):
            models |= set(build_model(name, num_classes=2).config) - interface
    data = set(DATASETS) | set(STEPS)
    for spec in DATASETS.values():
        data |= set(inspect.signature(spec.builder()).parameters) - interface
    classical = set(list_methods())
    for name in list_methods():
        classical |= set(method_class(name)().params)
    return {
        "docs/models.md": models,
        "docs/data.md": data,
        "docs/classical.md": classical,
        "docs/losses-metrics.md": set(LOSS_NAMES) | set(WEIGHT_METHODS),
    }


@pytest.mark.parametrize("page", sorted(_offered()))
def test_pages_name_everything_the_code_offers(page: str) -> None:
    """Every model, option, dataset, augmentation step, method and loss has its page."""
    text = (REPO / page).read_text()
    missing = sorted(name for name in _offered()[page] if f"`{name}`" not in text)
    assert not missing, f"{page} does not mention: {', '.join(missing)}"


def _reference_script() -> ModuleType:
    return load_script(REPO / "docs" / "make_cli_reference.py")


def test_cli_reference_is_current() -> None:
    script = _reference_script()
    written = (REPO / "docs" / "cli.md").read_text()
    assert written == script.cli_reference(), (
        f"docs/cli.md differs from the parser's help; regenerate it with: {script.COMMAND}"
    )


def test_options_table_is_current() -> None:
    script = _reference_script()
    text = (REPO / "docs" / "training.md").read_text()
    assert text.count(OPTIONS_BEGIN) == 1 and text.count(OPTIONS_END) == 1, (
        f"docs/training.md must hold the run options table between {OPTIONS_BEGIN} and "
        f"{OPTIONS_END}"
    )
    table = text.split(OPTIONS_BEGIN)[1].split(OPTIONS_END)[0].strip("\n") + "\n"
    assert table == script.options_table(), (
        "the run options table in docs/training.md differs from RunConfig; replace the lines "
        f"between {OPTIONS_BEGIN} and {OPTIONS_END} with the output of: {script.OPTIONS_COMMAND}"
    )
