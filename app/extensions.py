"""Extension objects, created once here and bound to the app in the factory."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from werkzeug.local import LocalProxy

from app.openid_client import MicroblogOpenID

db = SQLAlchemy()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
oid = MicroblogOpenID()
limiter = Limiter(key_func=get_remote_address)
# Authlib's OAuth registry serves a single app, so each app gets its own (made in create_app)
# and `oauth` is the current app's, as flask.current_app is.
oauth = LocalProxy(lambda: current_app.extensions["authlib.integrations.flask_client"])
