"""The app as Zappa's ASGI handler calls it on Lambda: what Zappa 0.63 leaves out.

    lambda_app = lambda_adapter(app, "/info/v2")   # server.py; Zappa calls server.lambda_app

Zappa 0.63's ASGI handler (zappa/asgi.py) turns each API Gateway event into one ASGI call.
The adapter adds what that call lacks (the body's length is http_guards.WholeBody's, which
serves uvicorn's chunked bodies too):
- the base path in `path`. API Gateway sends `/watch/X` through the stage URL (Zappa puts
  the stage in root_path) and `/info/v2/watch/X` through a custom domain whose base path
  mapping is info/v2. Both become `/info/v2/watch/X`, the app's route as under uvicorn,
  with an empty root_path, so that Starlette's router strips nothing. (Zappa's own
  `base_path` setting would add it too, but `zappa update` fails with it when
  apigateway_enabled is false.)
- one event loop for the container's life (OneLoopPerContainer), where Zappa makes a new
  one for every request.
"""

import asyncio


class OneLoopPerContainer(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose new_event_loop() gives back LOOP whenever it is idle.

    Zappa 0.63 makes a new event loop for every request (ASGIHandler.run) and never closes
    it. Each holds three file descriptors (its epoll and its self-pipe) until the garbage
    collector finds it, so a warm container's open descriptors swing by a hundred and more,
    and what lives with a loop (a2wsgi's and AnyIO's view of it) starts over at each request.
    With this policy, Zappa's new_event_loop() returns the container's one loop. Whoever asks
    while that loop runs, or once it is closed, gets a new loop, as without the policy.
    """

    def __init__(self, loop):
        super().__init__()
        self.loop = loop

    def new_event_loop(self):
        if self.loop.is_running() or self.loop.is_closed():
            return super().new_event_loop()
        return self.loop


def lambda_adapter(app, base_path):
    """The ASGI callable Zappa calls on Lambda: APP, for requests whose path may lack
    BASE_PATH (see the module's doc)."""

    async def lambda_app(scope, receive, send):
        if not isinstance(asyncio.get_event_loop_policy(), OneLoopPerContainer):
            # The loop Zappa made for the container's first request serves every later one.
            asyncio.set_event_loop_policy(OneLoopPerContainer(asyncio.get_running_loop()))
        path = scope["path"]
        # "/" is the health check: the REST API never routes it, a direct invocation does (the
        # deploy scripts' release gate, smoke_test.py --invoke).
        if path != "/" and not path.startswith(base_path + "/"):
            path = base_path + path
        await app({**scope, "path": path, "root_path": ""}, receive, send)

    return lambda_app
