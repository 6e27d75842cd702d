"""The house rules of the layout, read from the source (every import, deferred ones too):
components/ runs inside pipeline steps and knows nothing of the pipeline around it or of the
experiments; pipeline/ does not reach into the experiments; and nothing imports a runner, so
compiling for Kubeflow or listing models never pulls in the local runner. Tests may import
anything."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = ("pipeline.local_runner", "pipeline.kubeflow_runner")


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, `from a import b` counted as both `a` and `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def shipped_modules(package: str) -> dict[str, set[str]]:
    """Module path -> what it imports, for every non-test module of a top-level package."""
    return {
        str(path.relative_to(ROOT)): imported_modules(path)
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.name.endswith("_test.py") and path.name != "conftest.py"
    }


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """The package's modules that import a forbidden module or anything inside one."""
    inside = tuple(f"{name}." for name in forbidden)
    bad = {}
    for module, imports in shipped_modules(package).items():
        hits = sorted(i for i in imports if i in forbidden or i.startswith(inside))
        if hits:
            bad[module] = hits
    return bad


def test_components_import_neither_the_pipeline_nor_the_experiments():
    assert offenders("components", ("pipeline", "bench")) == {}


def test_the_pipeline_does_not_import_the_experiments():
    assert offenders("pipeline", ("bench",)) == {}


@pytest.mark.parametrize("package", ["components", "pipeline", "bench"])
def test_nothing_imports_a_runner(package):
    assert offenders(package, RUNNERS) == {}


def test_the_scan_sees_deferred_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipeline import local_runner\n")

    assert "pipeline.local_runner" in imported_modules(module)


def loaded_in_fresh_process(module: str, heavy: tuple[str, ...]) -> str:
    """Which of the `heavy` top-level packages importing `module` loads, as printed by a
    fresh Python: "[]" for none."""
    probe = (
        f"import sys, {module}\n"
        f"print(sorted({{name.split('.')[0] for name in sys.modules}} & set({heavy!r})))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize(
    "module", ["pipeline.settings", "pipeline.config", "pipeline.deploy", "pipeline.local_runner"]
)
def test_the_light_layer_loads_no_tensorflow(module):
    """The settings, the config, deploying and the local runner's flags are read before any
    step runs (every --help, every compile): they must not pay TensorFlow's seconds of import,
    nor need it installed."""
    heavy = ("tensorflow", "tf_keras", "keras", "tfx", "apache_beam")

    assert loaded_in_fresh_process(module, heavy) == "[]"


@pytest.mark.parametrize("module", ["components.trainer.training", "bench.plain_run"])
def test_training_and_the_plain_script_load_no_tfx(module):
    """The model code trains and exports without TFX (run_fn only receives TFX's FnArgs), and
    the plain script the benchmark times a run against is plain TensorFlow: TFX's components
    package alone takes about 4 s to import, which the plain side must not pay."""
    assert loaded_in_fresh_process(module, ("tfx", "apache_beam")) == "[]"
