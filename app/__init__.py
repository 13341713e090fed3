"""Leadboard: lead management for small sales teams."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import config as app_config
from app.extensions import compress, csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """The application factory: nothing touches the database or Redis until a request or command does."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.from_mapping(app_config.load(config))
    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=app.config["PROXY_COUNT"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    limiter.init_app(app)  # before CSRF: a flood is refused before any other work
    csrf.init_app(app)
    login_manager.init_app(app)
    compress.init_app(app)

    from app import api, auth, board, leads, main, outbox, public, reports, search, settings, tasks
    from app.web import install

    install(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(leads.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(outbox.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(reports.bp)

    from app.cli import register

    register(app)
    return app
