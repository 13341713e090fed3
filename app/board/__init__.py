from flask import Blueprint

bp = Blueprint("board", __name__, url_prefix="/board")

from app.board import routes  # noqa: E402,F401
