"""``config check`` and ``config keys``: validate the config file; list the declared keys."""

from __future__ import annotations

import json

import click

from inbox_finder.cli.options import global_options


@click.group("config")
def config_cmd() -> None:
    """Check the config file, or list the profile keys each source takes."""


@config_cmd.command("check")
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON.")
@global_options
@click.pass_context
def check_cmd(ctx: click.Context, json_out: bool) -> None:
    """Validate the config file and show each profile's keys, secrets masked.

    Every [mailbox.NAME] profile is checked against the keys its source declares (an
    unknown key or a wrong type is exit 2) and its source is built without connecting.
    For a secret it prints where the secret would come from — an environment variable
    (and whether it is set), a command (never run), the keyring entry, a prompt — never
    the secret itself. Exit 0 when the file is valid, 2 otherwise.
    """
    from inbox_finder.config import default_config_path, load_config
    from inbox_finder.config_check import check_config, trust_report

    config = load_config(ctx.obj["config_path"])
    reports = check_config(config)
    if json_out:
        data = {
            "config": str(config.path) if config.path else None,
            "valid": True,
            "default": config.default,
            "profiles": {r.name: r.to_dict() for r in reports},
            "trust": trust_report(config),
        }
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if config.path is None:
        click.echo(f"no config file (looked for {default_config_path()}): nothing to check")
        return
    count = f"{len(reports)} profile{'s' * (len(reports) != 1)}"
    click.echo(f"{config.path}: valid, {count}")
    if config.default:
        click.echo(f"default (find with no SOURCE): {config.default}")
    for report in reports:
        click.echo(f"\n[mailbox.{report.name}] ({report.kind})")
        for key, value in (report.keys | report.credentials).items():
            click.echo(f"  {key}: {value}")
    trust = trust_report(config)
    click.echo("\n[trust]")
    for key, value in trust.items():
        shown = ", ".join(value) if isinstance(value, list) else str(value).lower()
        click.echo(f"  {key}: {shown}")


@config_cmd.command("keys")
@click.argument("scheme")
@global_options
def keys_cmd(scheme: str) -> None:
    """List the profile keys a SCHEME (imaps, gmail, outlook, mbox, ...) takes."""
    from inbox_finder.boundary.registry import provider_class

    cls = provider_class(scheme.lower().removesuffix(":").removesuffix("://"))
    rows = []
    for key in cls.declared_keys().values():
        default = "" if key.default in (None, ()) else f" (default {key.show(key.default)})"
        secret = f" [secret: {key.secret}]" if key.secret else ""
        choices = f" ({' or '.join(key.choices)})" if key.choices else ""
        rows.append((key.name, f"{key.type}{choices}{default}{secret}: {key.help}"))
    formatter = click.HelpFormatter(max_width=100)
    with formatter.section(f"Profile keys of {scheme} sources ({cls.kind})"):
        formatter.write_dl(rows)
    click.echo(formatter.getvalue().rstrip())
