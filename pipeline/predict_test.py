"""`make predict`: a pushed version's answer for a user's files and folders, through the
serving signature, with bad files named and the rest still answered."""

import json

import pytest
import tensorflow as tf

from components import features
from components.registry import registry
from pipeline import exit_codes, predict
from pipeline.config import OutputLayout
from tests.helpers import encode_image, export_tiny_classifier, png_bomb

pytestmark = pytest.mark.component

CLASSES = ["cat", "dog", "fox", "owl"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """An outputs folder whose registry holds two versions that answer differently."""
    root = tmp_path_factory.mktemp("predict")
    serving = OutputLayout(str(root / "outputs")).serving_dir
    for seed in (1, 2):
        model = export_tiny_classifier(root / f"v{seed}", CLASSES, seed=seed)
        registry.publish(serving, model, {"model": {"fingerprint": f"m{seed}"}})
    return root / "outputs"


@pytest.fixture
def photos(tmp_path):
    """A folder as users have them: images at two depths, a stray text file, a hidden file."""
    folder = tmp_path / "photos"
    (folder / "2026" / ".thumbnails").mkdir(parents=True)
    (folder / "a.png").write_bytes(encode_image(size=(30, 20), seed=3))
    (folder / "2026" / "b.JPG").write_bytes(encode_image(size=(40, 40), fmt="JPEG", seed=4))
    (folder / "2026" / ".thumbnails" / "b.png").write_bytes(encode_image(seed=5))
    (folder / ".hidden.png").write_bytes(encode_image(seed=6))
    (folder / "notes.txt").write_text("not an image")
    return folder


def signature_answer(outputs, version: int, path) -> list[float]:
    """What the version's serving signature itself says about a file."""
    model_dir = registry.get_version(OutputLayout(str(outputs)).serving_dir, version).path
    serve = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]
    answer = serve(**{features.IMAGE_KEY: tf.constant([path.read_bytes()])})
    return answer[features.PROBABILITIES_KEY].numpy()[0].tolist()


def test_a_folder_is_answered_image_by_image_by_the_served_version(outputs, photos, capsys):
    code = predict.main([str(photos), "--json"], {"OUTPUTS": str(outputs)})

    assert code == exit_codes.SUCCESS
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 2
    assert document["class_names"] == CLASSES
    answered = [prediction["file"] for prediction in document["predictions"]]
    assert answered == [str(photos / "2026" / "b.JPG"), str(photos / "a.png")]
    for prediction in document["predictions"]:
        expected = signature_answer(outputs, 2, photos.joinpath(prediction["file"]))
        ranked = sorted(zip(CLASSES, expected, strict=True), key=lambda c: -c[1])[:3]
        top = [(entry["class_name"], entry["probability"]) for entry in prediction["top"]]
        assert [name for name, _ in top] == [name for name, _ in ranked]
        assert [p for _, p in top] == pytest.approx([p for _, p in ranked], abs=1e-6)
        assert prediction["class_name"] == ranked[0][0]
    assert document["errors"] == []


def test_a_version_is_asked_by_number_and_the_text_names_it(outputs, photos, capsys):
    image = photos / "a.png"
    environ = {"OUTPUTS": str(outputs), "FILE": str(image), "VERSION": "1", "TOP": "2"}

    assert predict.main([], environ) == exit_codes.SUCCESS

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Version 1 (")
    assert lines[0].endswith("classes: cat, dog, fox, owl")
    expected = signature_answer(outputs, 1, image)
    best, second = sorted(zip(CLASSES, expected, strict=True), key=lambda c: -c[1])[:2]
    assert lines[1].split() == [
        str(image),
        best[0],
        f"{best[1]:.1%}",
        second[0],
        f"{second[1]:.1%}",
    ]
    assert lines[2] == "1 of 1 image(s) answered"


def test_bad_files_are_named_and_the_others_still_answered(outputs, photos, capsys):
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (photos / "bomb.png").write_bytes(png_bomb(9000, 9000))
    (photos / "gone.png").symlink_to(photos / "deleted-meanwhile.png")

    code = predict.main([str(photos)], {"OUTPUTS": str(outputs)})

    assert code == exit_codes.BAD_INPUT
    printed = capsys.readouterr()
    errors = printed.err.splitlines()
    assert errors == [
        f"error: {photos / 'bomb.png'}: refused: Image of 9000x9000 pixels, above the cap of "
        "64 megapixels: refused before decoding",
        f"error: {photos / 'broken.png'}: refused: Invalid PNG. Failed to initialize decoder.",
        f"error: {photos / 'gone.png'}: cannot be read (No such file or directory)",
    ]
    assert "2 of 5 image(s) answered; 3 could not be (named above)" in printed.out
    assert str(photos / "a.png") in printed.out


def test_linked_folders_are_followed_once_and_a_home_path_is_expanded(
    outputs, photos, tmp_path, monkeypatch, capsys
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "c.gif").write_bytes(encode_image(mode="P", fmt="GIF", seed=7))
    (photos / "linked").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(photos)  # a link back up the tree
    monkeypatch.setenv("HOME", str(tmp_path))

    code = predict.main(["~/photos", "--json"], {"OUTPUTS": str(outputs)})

    assert code == exit_codes.SUCCESS
    answered = [p["file"] for p in json.loads(capsys.readouterr().out)["predictions"]]
    assert sorted(answered) == sorted(
        [str(photos / "2026" / "b.JPG"), str(photos / "a.png"), str(photos / "linked" / "c.gif")]
    )


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["nowhere.jpg"], {}, "no such file or folder: nowhere.jpg"),
        ([], {}, "say which images: FILE=<file or folder>"),
        (["{photos}", "--top", "0"], {}, "TOP must be at least 1, got 0"),
        (["{photos}", "--version", "7"], {}, "No version 7 in "),
        (["{photos}"], {"VERSION": "7"}, "(versions: 1, 2)"),
        (["{photos}/notes.txt", "{empty}"], {}, "no image (.jpg, .jpeg, .png, .bmp, .gif) in"),
        (["{photos}"], {"JSON": "maybe"}, "expected true or false, got 'maybe'"),
    ],
)
def test_a_request_that_cannot_be_answered_is_one_line_naming_why(
    outputs, photos, tmp_path, capsys, argv, environ, message
):
    (tmp_path / "empty").mkdir()
    argv = [a.format(photos=photos, empty=tmp_path / "empty") for a in argv]

    code = predict.main(argv, {"OUTPUTS": str(outputs), **environ})

    assert code == exit_codes.BAD_INPUT
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("error: ")
    assert message in printed.err
    assert len(printed.err.splitlines()) == 1


def test_with_nothing_pushed_it_says_where_it_looked(photos, tmp_path, capsys):
    code = predict.main([str(photos)], {"OUTPUTS": str(tmp_path / "fresh")})

    assert code == exit_codes.BAD_INPUT
    serving = OutputLayout(str(tmp_path / "fresh")).serving_dir
    assert capsys.readouterr().err == (
        f"error: no model has been pushed to {serving} yet (run make local)\n"
    )
