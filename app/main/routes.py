from flask import current_app, jsonify, redirect, url_for
from flask_login import current_user
from sqlalchemy import text

from app.extensions import db, limiter
from app.main import bp


@bp.get("/")
def index():
    return redirect(url_for("board.index" if current_user.is_authenticated else "auth.login"))


@bp.get("/healthz")
@limiter.limit("120/minute")
def healthz():
    """Liveness and dependencies, for load balancers and operators."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "dialect": db.engine.dialect.name}
    except Exception as exc:  # report, don't crash: this is what the endpoint is for
        db.session.rollback()
        checks["database"] = {"status": "error", "error": type(exc).__name__}
    redis_url = current_app.config["REDIS_URL"]
    if redis_url:
        import redis
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1).ping()
            checks["redis"] = {"status": "ok"}
        except redis.RedisError as exc:
            checks["redis"] = {"status": "error", "error": type(exc).__name__}
    healthy = all(c["status"] == "ok" for c in checks.values())
    return jsonify(status="ok" if healthy else "error", **checks), 200 if healthy else 503
