"""`make predict FILE=...`: what a pushed model says about your images.

    python -m pipeline.predict cat.jpg holiday-photos/ [--version 3] [--top 3] [--json]

Asks the served version (or `--version`) in the registry, through the signature TF Serving
and the Evaluator call: each file's bytes go in as they are on disk, so the answer is the one a
client of the served model gets. Folders are searched for images (subfolders included); a file
named on its own is tried whatever its name. A file that cannot be read or decoded is named on
standard error, the others are still answered, and the exit status says some failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence

from pipeline import exit_codes
from pipeline.config import registry_folder
from pipeline.settings import (
    MODELS_SETTINGS,
    PREDICT_FILES,
    PREDICT_SETTINGS,
    add_setting,
    add_settings,
    parse_bool,
)

# Images per call of the signature: enough to amortize a call. And pixels per call: decoding
# and resizing take about 15 bytes a pixel, so a batch stays near 1 GB however large the photos.
BATCH_SIZE = 16
BATCH_PIXELS = 64_000_000
DEFAULT_TOP = 3


@dataclasses.dataclass(frozen=True)
class Answer:
    """One image's answer: its classes, most probable first; or why it has none."""

    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None


def image_paths(given: Sequence[str]) -> tuple[list[str], list[Answer]]:
    """The files to ask about: each named file, and each named folder's images (sorted,
    hidden ones left out, linked folders followed once); and an answer naming each folder that
    could not be read. Raises ValueError naming each path that does not exist and each folder
    holding no image."""
    given = [os.path.expanduser(path) for path in given]  # `FILE=~/photos` reaches us as is
    missing = [path for path in given if not os.path.exists(path)]
    if missing:
        raise ValueError(f"no such file or folder: {', '.join(missing)}")
    found: list[str] = []
    unreadable: list[Answer] = []
    for path in given:
        if not os.path.isdir(path):
            found.append(path)
            continue
        images, problems = _folder_images(path)
        if not images and not problems:
            raise ValueError(f"no image ({', '.join(_extensions())}) in folder {path}")
        found += sorted(images)
        unreadable += problems
    return found, unreadable


def _folder_images(folder: str) -> tuple[list[str], list[Answer]]:
    """The image files under `folder` (hidden files and folders such as .thumbnails/ left
    out), and an answer for each folder that could not be listed."""
    from components.example_gen.ingest import has_image_extension, is_hidden

    images: list[str] = []
    problems: list[Answer] = []
    seen: set[str] = set()

    def unlisted(error: OSError) -> None:
        problems.append(Answer(error.filename, error=f"folder cannot be read ({error.strerror})"))

    for parent, folders, names in os.walk(folder, onerror=unlisted, followlinks=True):
        if os.path.realpath(parent) in seen:  # a link back up the tree: once is enough
            folders[:] = []
            continue
        seen.add(os.path.realpath(parent))
        folders[:] = [name for name in folders if not is_hidden(name)]
        images += [
            os.path.join(parent, name)
            for name in names
            if has_image_extension(name) and not is_hidden(name)
        ]
    return images, problems


def _extensions() -> tuple[str, ...]:
    from components import features

    return features.IMAGE_EXTENSIONS


def refusal_reason(error: Exception) -> str:
    """The decoder's or the pixel cap's own words from a TensorFlow error raised in a graph:
    the line just before the failing node's `[[{{node ...}}]]`, after the call stack."""
    message = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    at_node = next((i for i, line in enumerate(lines) if line.startswith("[[")), None)
    reason = lines[at_node - 1] if at_node else (lines[0] if lines else type(error).__name__)
    asserted = re.fullmatch(r"assertion failed: \[(.*)\]", reason)
    return (asserted.group(1) if asserted else reason)[:300]


class Classifier:
    """A pushed version's serving signature and class names."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        from components import features
        from components.example_gen.class_names import read_class_names
        from components.trainer.export import ASSETS_EXTRA_DIR

        self.model_dir = model_dir
        self.class_names = read_class_names(os.path.join(model_dir, ASSETS_EXTRA_DIR))
        self._serve = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]

    def _probabilities(self, images: list[bytes]) -> list[list[float]]:
        import tensorflow as tf

        from components import features

        answer = self._serve(**{features.IMAGE_KEY: tf.constant(images, dtype=tf.string)})
        return answer[features.PROBABILITIES_KEY].numpy().tolist()

    def _top(self, probabilities: list[float], top: int) -> tuple[tuple[str, float], ...]:
        ranked = sorted(zip(self.class_names, probabilities, strict=True), key=lambda c: -c[1])
        return tuple((name, float(p)) for name, p in ranked[:top])

    def _ask(self, pending: list[tuple[str, bytes | None, str | None]], top: int) -> list[Answer]:
        """Answers for one batch, in order. If the signature refuses the batch (an image it
        cannot decode, or memory), each image is asked alone, so one bad file costs no other
        its answer."""
        import tensorflow as tf

        readable = [(path, data) for path, data, _ in pending if data is not None]
        answers = {path: Answer(path, error=why) for path, data, why in pending if data is None}
        try:
            rows = self._probabilities([data for _, data in readable]) if readable else []
            for (path, _), row in zip(readable, rows, strict=True):
                answers[path] = Answer(path, self._top(row, top))
        except tf.errors.OpError:
            for path, data in readable:
                try:
                    (row,) = self._probabilities([data])
                    answers[path] = Answer(path, self._top(row, top))
                except tf.errors.OpError as e:
                    answers[path] = Answer(path, error=f"refused: {refusal_reason(e)}")
        return [answers[path] for path, _, _ in pending]

    def answer(self, paths: Sequence[str], top: int = DEFAULT_TOP) -> Iterator[Answer]:
        """Each path's answer, in order, asked in batches of up to BATCH_SIZE images and
        BATCH_PIXELS pixels (read from their headers; a larger image is asked alone)."""
        from components.example_gen.ingest import read_image_file

        pending: list[tuple[str, bytes | None, str | None]] = []
        pixels = 0
        for path in paths:
            data, why = read_image_file(path)
            size = _pixels(data) if data else 0
            if pending and (len(pending) == BATCH_SIZE or pixels + size > BATCH_PIXELS):
                yield from self._ask(pending, top)
                pending, pixels = [], 0
            pending.append((path, data, why))
            pixels += size
        if pending:
            yield from self._ask(pending, top)


def _pixels(data: bytes) -> int:
    """The pixels an encoded image declares (0 when its header cannot be read)."""
    import tensorflow as tf

    from components.transform import preprocessing

    try:
        height, width = preprocessing.header_image_size(data)
    except tf.errors.OpError:
        return 0
    return height * width


def format_answer(answer: Answer, width: int) -> str:
    """`path  class 91.2%  other 5.1% ...`, the path padded to `width`."""
    classes = "   ".join(f"{name} {probability:.1%}" for name, probability in answer.top)
    return f"{answer.path:<{width}}  {classes}"


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", metavar="PATH", help=PREDICT_FILES.described)
    add_settings(parser, MODELS_SETTINGS, environ)
    add_setting(parser, "version", PREDICT_SETTINGS["version"], environ)
    add_setting(parser, "top", PREDICT_SETTINGS["top"], environ, DEFAULT_TOP)
    as_json = PREDICT_SETTINGS["json"]
    # A switch here (`--json`, no value), or JSON=true in the environment.
    parser.add_argument(
        as_json.flag,
        action="store_true",
        default=parse_bool(environ.get(as_json.env) or False),
        help=as_json.described,
    )
    return parser


def files_given(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> tuple[list[str], list[Answer]]:
    """The images asked about, and the folders that could not be read; ValueError naming
    what is wrong with the request."""
    given = args.paths or ([environ[PREDICT_FILES.env]] if environ.get(PREDICT_FILES.env) else [])
    if not given:
        raise ValueError(f"say which images: {PREDICT_FILES.env}=<file or folder> (or PATH ...)")
    if args.top < 1:
        raise ValueError(f"TOP must be at least 1, got {args.top}")
    return image_paths(given)


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    try:
        args = build_parser(environ).parse_args(argv)
        paths, unreadable = files_given(args, environ)
        version = find_version(registry_folder(args.serving_dir, args.outputs), args.version)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    classifier = Classifier(version.path)
    if not args.json:
        classes = ", ".join(classifier.class_names)
        print(f"Version {version.number} ({version.path}); classes: {classes}")
    answers = list(unreadable)
    for answer in unreadable:
        print(f"error: {answer.path}: {answer.error}", file=sys.stderr)
    width = max((len(path) for path in paths), default=0)
    for answer in classifier.answer(paths, args.top):
        answers.append(answer)
        if answer.error:
            print(f"error: {answer.path}: {answer.error}", file=sys.stderr)
        elif not args.json:
            print(format_answer(answer, width), flush=True)
    failed = sum(1 for answer in answers if answer.error)
    if args.json:
        print(json.dumps(as_document(version, classifier, answers), indent=2))
    else:
        unanswered = f"; {failed} could not be (named above)" if failed else ""
        print(f"{len(answers) - failed} of {len(answers)} image(s) answered{unanswered}")
    return exit_codes.BAD_INPUT if failed else exit_codes.SUCCESS


def find_version(serving_dir: str, number: int | None):
    """The version to ask: `number`, or the served one. ValueError when there is none."""
    from components.registry import registry

    if number is None:
        served = registry.served_version(serving_dir)
        if served is None:
            raise ValueError(f"no model has been pushed to {serving_dir} yet (run make local)")
        return served
    try:
        return registry.get_version(serving_dir, number)
    except registry.RegistryError as e:
        raise ValueError(str(e)) from e


def as_document(version, classifier: Classifier, answers: list[Answer]) -> dict:
    """The --json answer: the version asked, and each image's classes or error."""
    return {
        "version": version.number,
        "model_dir": version.path,
        "class_names": classifier.class_names,
        "predictions": [
            {
                "file": answer.path,
                "class_name": answer.top[0][0],
                "top": [{"class_name": n, "probability": p} for n, p in answer.top],
            }
            for answer in answers
            if not answer.error
        ],
        "errors": [{"file": a.path, "error": a.error} for a in answers if a.error],
    }


if __name__ == "__main__":
    sys.exit(main())
