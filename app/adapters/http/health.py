"""``GET /health``: 200 for ok or degraded, 503 for down."""

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services

health_bp = Blueprint("health", __name__)


@health_bp.get("/health")
def health() -> ResponseReturnValue:
    report = services().health.report()
    return jsonify(report), 503 if report["status"] == "down" else 200
