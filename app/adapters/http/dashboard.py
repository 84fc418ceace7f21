"""``GET /``: the live dashboard, served by the app itself (no build step, no CDN)."""

from pathlib import Path

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue

STATIC = Path(__file__).parent / "static"
dashboard_bp = Blueprint("dashboard", __name__, static_folder=str(STATIC), static_url_path="/static")


@dashboard_bp.get("/")
def dashboard() -> ResponseReturnValue:
    return send_from_directory(STATIC, "dashboard.html", max_age=0)
