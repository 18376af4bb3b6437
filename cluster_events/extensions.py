"""Extension objects, created once and bound to an app in create_app()."""

from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from cluster_events.cookie_session import SiteLoginManager
from cluster_events.database import Base
from cluster_events.rate_limits import SiteLimiter

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()
babel = Babel()
limiter = SiteLimiter(key_func=get_remote_address, default_limits=[])
login_manager = SiteLoginManager()
