"""The service with one of its additions left out, for `bench_lambda.py --additions`.

bench_lambda.py stages this module beside the service's and makes it what Zappa calls
(app_function leave_one_out.lambda_app); the environment variable LEAVE_OUT names what to
leave out:
- a module whose middlewares server.py adds (http_guards, request_log): they are taken out
  of Connexion's list of middlewares, from which it builds its stack at the first request
  (the module is still imported);
- basic_auth: Connexion's own basic-auth handler (Latin-1 credentials) instead of
  basic_auth.py's, which server.py takes from that module when it is imported;
- lambda_app: Zappa calls the Connexion app itself (requests must then come through a
  custom domain, whose paths hold the base path the app routes);
- anything else (the password hash, which bench_lambda.py leaves out by giving HTTP_PASS
  instead of HTTP_PASS_HASH; or nothing): the whole service.
"""

import os

import basic_auth
from connexion.security import BasicSecurityHandler

LEAVE_OUT = os.environ.get("LEAVE_OUT", "")
if LEAVE_OUT == "basic_auth":
    basic_auth.UTF8BasicSecurityHandler = BasicSecurityHandler

import server  # noqa: E402  (after the handler's choice, which it imports)


def module_of(middleware):
    """The module of a middleware class in Connexion's list (some are partials)."""
    return getattr(middleware, "func", middleware).__module__


middlewares = server.app.middleware.middlewares
middlewares[:] = [middleware for middleware in middlewares if module_of(middleware) != LEAVE_OUT]
lambda_app = server.app if LEAVE_OUT == "lambda_app" else server.lambda_app
