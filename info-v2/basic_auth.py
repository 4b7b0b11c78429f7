"""HTTP basic auth as RFC 7617 has it: credentials are UTF-8, and the challenge says so.

Browsers and curl send the user name and password as UTF-8; Connexion decodes them as
Latin-1, which breaks every password with a character outside Latin-1 and turns `ä` into
`Ã¤`. The handler here decodes UTF-8, and falls back to Latin-1 only for a legacy client
whose bytes are not valid UTF-8 (Latin-1 text with an accent almost never is).

    app.add_api(spec, security_map={"basic": UTF8BasicSecurityHandler})
"""

import base64

from connexion.exceptions import OAuthProblem
from connexion.security import NO_VALUE, BasicSecurityHandler

# The WWW-Authenticate challenge of a 401: the scheme, the realm and the charset (RFC 7617).
CHALLENGE = 'Basic realm="Watch Info Service", charset="UTF-8"'


def decode_credentials(encoded):
    """(user, password) of a basic-auth token; ValueError when it holds no `user:password`."""
    raw = base64.b64decode(encoded)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user, separator, password = text.partition(":")
    if not separator:
        raise ValueError("no ':' between user and password")
    return user, password


class UTF8BasicSecurityHandler(BasicSecurityHandler):
    """Connexion's basic-auth handler, with the credentials decoded by decode_credentials."""

    def _get_verify_func(self, basic_info_func):
        check_basic_info_func = self.check_basic_auth(basic_info_func)

        def wrapper(request):
            auth_type, user_pass = self.get_auth_header_value(request)
            if auth_type != "basic":
                return NO_VALUE
            try:
                username, password = decode_credentials(user_pass)
            except ValueError:
                raise OAuthProblem(detail="Invalid authorization header") from None
            return check_basic_info_func(request, username, password)

        return wrapper
