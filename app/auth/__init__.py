"""Sign-in and sign-out blueprint: shared views, then one package per protocol."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import views  # noqa: E402,F401  (routes register on bp)
from app.auth.oidc import views as oidc_views  # noqa: E402,F401
from app.auth.openid2 import views as openid2_views  # noqa: E402,F401
