"""params.yaml, dvc.yaml, the CLIs and the stage functions cannot drift apart."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
import typer
import yaml

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
#: Sections of params.yaml that reach a stage as a file rather than as options.
READ_AS_FILE = {"harmony-score": ["analysis"]}
#: Option values shared by several stages, under their own section.
SHARED_SECTIONS = {"compute"}
#: Sections for commands that talk to a live server, outside dvc.yaml (the demo imports a simulated export):
#: each key must be an option of one of these sub-commands.
OUTSIDE_DVC = {"annotate": (("annotate", "export"), ("annotate", "import"))}
#: ``icaa-data`` command -> the functions its options feed: the stage's ``run_<stage>`` and the core that
#: takes the same keyword arguments.
CLI_FUNCTIONS = {
    "scan": [("icaa.pipeline.scan", "run_scan")],
    "harmony-score": [("icaa.pipeline.harmony", "run_harmony_score")],
    "crawl popularity": [("icaa.pipeline.crawl.stage", "run_popularity")],
    "crawl search": [("icaa.pipeline.crawl.stage", "run_search"), ("icaa.pipeline.crawl.search", "search_candidates")],
    "fuse": [("icaa.pipeline.fuse", "run_fuse"), ("icaa.pipeline.fuse", "fuse_scores")],
    "balance": [("icaa.pipeline.balance", "run_balance"), ("icaa.pipeline.balance", "balance_pool")],
    "annotate export": [("icaa.pipeline.annotate", "run_export")],
    "annotate import": [("icaa.pipeline.annotate", "run_import")],
    "mos": [("icaa.pipeline.mos", "run_mos"), ("icaa.annotation.mos", "compute_mos")],
    "build": [("icaa.pipeline.build", "run_build"), ("icaa.pipeline.build", "assemble_dataset")],
    "resplit": [("icaa.pipeline.resplit", "run_resplit"), ("icaa.pipeline.resplit", "resplit_rows")],
    "report": [("icaa.pipeline.report", "run_report"), ("icaa.pipeline.report", "render_report")],
}


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*prefix, key))
    else:
        yield prefix


def _command(stage: str):
    """The click command a dvc stage's cmd runs, and its option strings."""
    cmd = STAGES[stage]["cmd"]
    tool, *words = re.search(r"(icaa-data|icaa-train)\s+(.*)", cmd).group(0).split()
    if tool == "icaa-data":
        command = _icaa_data_command(())
    else:
        from icaa.model.cli import app

        command = typer.main.get_command(app)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, cmd


def _options(command) -> dict[str, object]:
    return {opt: param for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def _icaa_data_command(path: tuple[str, ...]):
    from icaa.pipeline.cli import COMMANDS, app

    for module, _ in COMMANDS.values():
        importlib.import_module(module)
    command = typer.main.get_command(app)
    for word in path:
        command = command.commands[word]
    return command


@pytest.mark.parametrize("section", sorted(OUTSIDE_DVC))
def test_every_key_of_a_server_section_is_an_option_of_its_commands(section):
    options = set().union(*(_options(_icaa_data_command(path)) for path in OUTSIDE_DVC[section]))
    missing = [key for key in PARAMS[section] if "--" + key.replace("_", "-") not in options]
    assert missing == []


@pytest.mark.parametrize("section", sorted(set(PARAMS) - SHARED_SECTIONS - set(OUTSIDE_DVC)))
def test_every_params_key_is_passed_by_its_stage_command(section):
    assert section in STAGES, f"params.yaml section {section} has no dvc stage"
    cmd = STAGES[section]["cmd"]
    skipped = READ_AS_FILE.get(section, [])
    unused = [".".join(key) for key in _leaves(PARAMS[section]) if key[0] not in skipped
              and "${" + ".".join((section, *key)) + "}" not in cmd]
    assert unused == [], f"dvc stage {section} does not pass {unused}"
    for key in skipped:
        assert f"--analysis-key {section}.{key}" in cmd


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_option_a_stage_command_passes_exists_in_the_cli(stage):
    command, cmd = _command(stage)
    options = _options(command)
    passed = re.findall(r"(?<!\S)(--?[a-z][a-z0-9-]*)", cmd.split("icaa-", 1)[1])
    unknown = [option for option in passed if option not in options]
    assert unknown == [], f"{stage}: {command.name} has no option {unknown}"


def test_every_stage_command_has_its_functions_listed():
    stages = {name for name, (module, _) in _icaa_data_commands().items() if module not in ("show", "plots")}
    assert stages == set(CLI_FUNCTIONS)


def _icaa_data_commands() -> dict[str, tuple[str, object]]:
    """Every leaf command of ``icaa-data`` by its typed name (``crawl search``): (its name's first word, command)."""
    found = {}

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[" ".join(path)] = (path[0], command)

    walk(_icaa_data_command(()), ())
    return found


def _same_default(cli_default, expected) -> bool:
    """A comma-separated CLI string equals a sequence default when its parts, typed like its items, do."""
    if isinstance(expected, (list, tuple, set, frozenset)) and isinstance(cli_default, str):
        item_type = type(next(iter(expected))) if expected else str
        cli_default = type(expected)(item_type(part) for part in cli_default.split(",") if part)
    return cli_default == expected


@pytest.mark.parametrize("stage", sorted(CLI_FUNCTIONS))
def test_cli_defaults_equal_the_stage_function_defaults(stage):
    command = _icaa_data_command(tuple(stage.split()))
    different = []
    for module, name in CLI_FUNCTIONS[stage]:
        function_defaults = {parameter.name: parameter.default for parameter in
                             inspect.signature(getattr(importlib.import_module(module), name)).parameters.values()
                             if parameter.default is not inspect.Parameter.empty}
        compared = []
        for param in command.params:
            if param.name in function_defaults and param.default is not None:
                compared.append(param.name)
                if not _same_default(param.default, function_defaults[param.name]):
                    different.append(f"{param.name}: CLI {param.default!r}, {name} {function_defaults[param.name]!r}")
        assert compared, f"no option of {stage} matches a parameter of {name}"
    assert different == []


def test_icaa_train_fit_defaults_equal_the_training_settings():
    import dataclasses
    import inspect

    from icaa.model.cli import fit_command
    from icaa.model.engine import TrainSettings

    settings = {field.name: field.default for field in dataclasses.fields(TrainSettings)
                if field.default is not dataclasses.MISSING}
    options = {name: parameter.default for name, parameter in inspect.signature(fit_command).parameters.items()
               if name in settings and name != "init"}
    assert len(options) >= 15
    assert {name: default for name, default in options.items() if default != settings[name]} == {}
