"""Operator commands: `flask --app app create-admin|create-user|create-api-key|seed-demo|reconcile-totals|backup|restore`."""
from __future__ import annotations

import secrets
from pathlib import Path

import click
from flask import Flask, current_app

from app.services import ServiceError, backup, totals
from app.services.api_keys import create_key
from app.services.demo import DEMO_ADMIN, has_users, seed
from app.services.users import create_user


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--password", required=True, help="At least 12 characters, not a common password.")
    @click.option("--role", type=click.Choice(["admin", "member"]), default="member", show_default=True)
    @click.option("--name", default="", help="Display name (defaults to one made from the email).")
    def create_user_command(email: str, password: str, role: str, name: str):
        """Add a user to the team."""
        try:
            user = create_user(email, password, role, name)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"Created {user.role} {user.email}.")

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", required=True, help="At least 12 characters, not a common password.")
    @click.option("--name", default="")
    @click.pass_context
    def create_admin_command(ctx, email: str, password: str, name: str):
        """Add an admin user."""
        ctx.invoke(create_user_command, email=email, password=password, role="admin", name=name)

    @app.cli.command("create-api-key")
    @click.argument("name")
    def create_api_key_command(name: str):
        """Create an API key for /api/v1 and print it (it is shown only this once)."""
        try:
            key, secret = create_key(name, created_by_id=None)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"API key {key.name!r} created. Send it as 'Authorization: Bearer <key>':")
        click.echo(secret)

    @app.cli.command("seed-demo")
    @click.option("--leads", default=300, show_default=True, help="How many demo leads to create.")
    @click.option("--if-empty", is_flag=True, help="Do nothing if the database already has users.")
    def seed_demo_command(leads: int, if_empty: bool):
        """Fill the database with a realistic demo team, pipeline and leads (Faker)."""
        login_file = Path(current_app.config["INSTANCE_DIR"]) / "demo-login.txt"
        if if_empty and has_users():
            if login_file.exists():
                email, _, password = login_file.read_text().strip().partition(" ")
                click.echo(_login_line(email, password))
            return
        password = secrets.token_urlsafe(12)
        counts = seed(leads=leads, admin_password=password)
        login_file.parent.mkdir(parents=True, exist_ok=True)
        login_file.write_text(f"{DEMO_ADMIN} {password}\n")
        login_file.chmod(0o600)
        click.echo(f"Seeded {counts['users']} users, {counts['leads']:,} leads and {counts['appointments']} appointments.")
        click.echo(_login_line(DEMO_ADMIN, password))

    @app.cli.command("reconcile-totals")
    def reconcile_totals_command():
        """Recount the board's stage totals from the leads and fix any that drifted."""
        wrong = totals.reconcile()
        if wrong:
            click.echo(f"Fixed {wrong} stage total{'s' if wrong != 1 else ''} that did not match the leads.")
        else:
            click.echo("Every stage total matches the leads.")

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False))
    def backup_command(path: str):
        """Write a consistent copy of the whole database to PATH (safe while the app runs).

        Erasure cannot reach a backup file already written: backups written before a person was
        erased still contain them until they are rotated (delete them on your usual schedule), and
        restoring one brings the person back, so erase them again after a restore."""
        try:
            manifest = backup.create_backup(path)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"Wrote {manifest.describe()} to {path} ({manifest.size:,} bytes).")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(dir_okay=False))
    @click.option("--yes", is_flag=True, help="Replace the database without asking.")
    def restore_command(path: str, yes: bool):
        """Replace the whole database with the backup at PATH (stop web and worker processes first)."""
        try:
            manifest = backup.read_manifest(path)
            backup.check_restorable(manifest)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        if not yes:
            click.confirm(f"Replace everything in the database with {manifest.describe()}?", abort=True)
        try:
            backup.restore_backup(path)
        except ServiceError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"Restored {manifest.describe()}.")
        head = backup.code_head()
        if manifest.revision != head:
            click.echo(f"The backup's schema is older than this code's ({head}): run `flask --app app db upgrade` now.")


def _login_line(email: str, password: str) -> str:
    return f"Sign in at {current_app.config['BASE_URL']}/login as {email} with password {password}"
