"""The README's commands for machines without `make` are the Makefile's own recipes: each line
``python -m ...  # make TARGET`` of the README's "Without make" block appears in what
``make -n --always-make TARGET`` would run (with the .venv's interpreter, ``--quiet`` and environment
assignments set aside), so `make test-all` in CI runs exactly what the README tells Windows users."""
import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> dict[str, list[list[str]]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("**Without `make`**", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands: dict[str, list[list[str]]] = {}
    for line in block.splitlines():
        found = re.fullmatch(r"(python -m .+?)\s+# make (\S+)", line.strip())
        if found:
            commands.setdefault(found[2], []).append(shlex.split(found[1]))
    return commands


def make_commands(target: str) -> list[list[str]]:
    dry = subprocess.run(["make", "-n", "--always-make", target],  # the installs too, even when done
                         cwd=ROOT, check=True, capture_output=True, text=True)
    commands = []
    for line in dry.stdout.splitlines():
        words = [w for w in shlex.split(line) if w != "--quiet"]
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # OMP_NUM_THREADS=1 ...
            words = words[1:]
        if words and words[0].endswith("/.venv/bin/python"):
            commands.append(["python", *words[1:]])
    return commands


def test_every_make_target_is_listed_with_its_plain_commands() -> None:
    readme = readme_commands()
    assert set(readme) == {"setup", "setup-real", "course", "test", "test-all", "site", "slides"}
    for target, commands in readme.items():
        recipe = make_commands(target)
        for command in commands:
            assert command in recipe, f"make {target} does not run {' '.join(command)}: {recipe}"
