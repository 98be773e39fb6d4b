"""The layering of the library. The config is a plain value at the bottom: importing it loads
no dataset, model, evaluation, loss or LTD code, and not torch (the registries check a config when
it is built into a run, :func:`svl_lib.registries.resolve`). The modules a config is made of never
import the config module at run time (only for type hints). Each check imports in a fresh
interpreter."""
import subprocess
import sys

BELOW_THE_CONFIG = ("svl_lib.data", "svl_lib.models", "svl_lib.evaluation", "svl_lib.losses",
                    "svl_lib.outputs", "svl_lib.retrieval", "svl_lib.shortcuts")
REGISTRIES = ("svl_lib.data", "svl_lib.models", "svl_lib.evaluation", "svl_lib.losses",
              "svl_lib.ltd", "svl_lib.gradients", "svl_lib.digits", "svl_lib.shortcuts", "torch")


def loaded_after(imports: str) -> set[str]:
    code = f"import sys, {imports}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_registry_modules_do_not_import_the_config() -> None:
    loaded = loaded_after(", ".join(BELOW_THE_CONFIG))
    assert "svl_lib.config" not in loaded, f"one of {BELOW_THE_CONFIG} imports svl_lib.config at run time"


def test_the_config_imports_no_registry() -> None:
    loaded = loaded_after("svl_lib.config")
    assert not loaded & set(REGISTRIES), f"svl_lib.config loads {sorted(loaded & set(REGISTRIES))}"
