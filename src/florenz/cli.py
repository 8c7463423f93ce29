"""The `florenz` command. Each subcommand is a thin call into its stage (world, data, models,
train, evaluate, scaling, report, sweep, inference); this file only assembles them."""

from __future__ import annotations

import sys

import click
import typer

from florenz.data import cli as data_cli
from florenz.errors import FlorenzError
from florenz.evaluate import cli as eval_cli
from florenz.inference import cli as inference_cli
from florenz.models import cli as models_cli
from florenz.report import cli as report_cli
from florenz.scaling import cli as scaling_cli
from florenz.sweep import cli as sweep_cli
from florenz.train import cli as train_cli
from florenz.world import cli as world_cli

app = typer.Typer(
    name="florenz",
    help="Multilingual vision-language models that caption in languages seen only in translation data. "
    "Every command runs on the embedded micro world unless real data is named.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(world_cli.app, name="world")
app.add_typer(data_cli.app, name="data")
app.command("models")(models_cli.models)
app.command("convert")(models_cli.convert)
app.command("train")(train_cli.train)
app.command("export")(train_cli.export)
app.command("eval")(eval_cli.evaluate)
app.command("score")(eval_cli.score)
app.command("sweep")(sweep_cli.sweep)
app.command("fit")(scaling_cli.fit)
app.command("plan")(scaling_cli.plan)
app.command("report")(report_cli.report)
app.command("demo")(sweep_cli.demo)
app.command("caption")(inference_cli.caption)
app.command("translate")(inference_cli.translate)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a FlorenzError (bad input) is one line on stderr and exit code 1."""
    try:
        app(args=argv, standalone_mode=False)
    except FlorenzError as e:
        msg = " ".join(str(e).split())
        print(f"error: {msg}", file=sys.stderr)
        return 1
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
