"""deploy/Dockerfile, checked without Docker (none here): it installs exactly the pins
`make setup` installs plus the CUDA wheels the locked TensorFlow asks for, puts the project where
the Kubeflow compile expects it, and runs as a non-root user. Building it is `make image`."""

import fnmatch
import importlib.metadata
import re
from pathlib import Path

import pytest

from pipeline import config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()


def instructions(keyword: str) -> list[str]:
    """Arguments of every `keyword` instruction, continuation lines joined."""
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(keyword + " ")]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_the_image_syncs_the_same_lock_as_make_setup():
    assert "$(UV) pip sync --python $(PY) requirements.lock" in MAKEFILE
    (run_install, _) = instructions("RUN")[1:3]
    assert "uv pip sync --python /opt/venv/bin/python requirements.lock" in run_install
    assert "requirements.lock" in instructions("COPY")[0].split()
    uv_version = re.search(r"^UV_VERSION := (\S+)", MAKEFILE, re.M).group(1)
    assert f"uv=={uv_version}" in instructions("RUN")[0]


def test_bytecode_is_compiled_at_install_where_python_may_not_write_it():
    # Run as a non-root user over a root-owned venv, with PYTHONDONTWRITEBYTECODE, a step that
    # found no .pyc files would compile the whole stack from source at every start (~16 s).
    env = " ".join(instructions("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "UV_COMPILE_BYTECODE=1" in env
    assert re.search(r"^export UV_COMPILE_BYTECODE := 1$", MAKEFILE, re.M)


def test_the_base_is_the_python_tfx_needs():
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.10\.\d+-slim-\w+", base), base


def test_the_gpu_wheels_are_exactly_what_the_locked_tensorflow_asks_for():
    locked_tf = pins(ROOT / "requirements.lock")["tensorflow"]
    assert importlib.metadata.version("tensorflow") == locked_tf
    wanted = {}
    for requirement in importlib.metadata.requires("tensorflow"):
        if "extra == 'and-cuda'" in requirement:
            name, version = re.match(r"^(\S+)\s*==\s*(\S+)", requirement).groups()
            wanted[name.lower()] = version
    assert wanted, "tensorflow declares no and-cuda extra"
    assert pins(ROOT / "deploy" / "requirements-gpu.lock") == wanted


def test_the_project_sits_where_the_kubeflow_compile_reads_the_schema():
    (workdir,) = instructions("WORKDIR")
    assert workdir == config.IMAGE_PROJECT_DIR
    assert f"{workdir}/schemas/schema.pbtxt" == config.IMAGE_SCHEMA
    copied = {
        args.split()[0].rstrip("/")
        for args in instructions("COPY")
        if not args.startswith("--from=")
    }
    # What a step runs, found where TFX imports it: the components, not the pipeline around them.
    assert {name for name in copied if (ROOT / name).is_dir()} == {"components", "schemas"}
    assert f"PYTHONPATH={workdir}" in " ".join(instructions("ENV"))
    assert (ROOT / "schemas" / "schema.pbtxt").exists()


def test_the_image_ships_no_tests():
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [args.split()[0].rstrip("/") for args in instructions("COPY")]
    shipped_tests = [
        str(path.relative_to(ROOT))
        for folder in copied
        if (ROOT / folder).is_dir()
        for path in (ROOT / folder).rglob("*.py")
        if path.name.endswith("_test.py") or path.name == "conftest.py"
    ]
    assert shipped_tests  # the copied packages do hold tests, beside their code
    left_in = [p for p in shipped_tests if not any(fnmatch.fnmatch(p, g) for g in ignored)]
    assert left_in == []


def test_beam_workers_get_the_harness_of_the_locked_beam():
    beam = pins(ROOT / "requirements.lock")["apache-beam"]
    harness = [args for args in instructions("COPY") if args.startswith("--from=")]
    assert harness == [
        f"--from=apache/beam_python3.10_sdk:{beam} /opt/apache/beam /opt/apache/beam"
    ]
    assert instructions("ENTRYPOINT") == ['["/opt/apache/beam/boot"]']


def test_it_records_the_code_version_and_drops_root():
    assert "CODE_VERSION=unknown" in instructions("ARG")
    assert any("CODE_VERSION=${CODE_VERSION}" in env for env in instructions("ENV"))
    (user,) = instructions("USER")
    assert user not in ("root", "0")


def test_no_credentials_go_into_the_image():
    # Only named project folders are copied (never the whole context, where a key file or an
    # .env may lie), and no build argument or variable is a secret's.
    copied = [line.split()[0] for line in instructions("COPY") if not line.startswith("--from")]
    assert "." not in copied and "./" not in copied
    secret_like = re.compile(r"(SECRET|TOKEN|PASSWORD|CREDENTIAL|_KEY\b|APPLICATION_CREDENTIALS)")
    for line in instructions("ARG") + instructions("ENV"):
        assert not secret_like.search(line.upper()), line
