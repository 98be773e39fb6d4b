"""The layering of the library: the modules a config is made of (datasets, models, evaluation,
losses) never import the config module at run time (only for type hints), so the config can sit
above them. They are imported in a fresh interpreter."""
import subprocess
import sys

BELOW_THE_CONFIG = ("svl_lib.data", "svl_lib.models", "svl_lib.evaluation", "svl_lib.losses",
                    "svl_lib.outputs", "svl_lib.retrieval", "svl_lib.shortcuts")


def test_registry_modules_do_not_import_the_config() -> None:
    code = f"import sys, {', '.join(BELOW_THE_CONFIG)}; print('svl_lib.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"one of {BELOW_THE_CONFIG} imports svl_lib.config at run time"
