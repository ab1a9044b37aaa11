"""What the Lambda service needs from a wire front-end, filled in by it.

The Runtime API each execution environment talks to is HTTP, and bytes off
a socket are a protocol's business (protocols/lambda_runtime); that package
registers its server here when the composition imports it, so this service
never imports a protocol.

``RUNTIME_API``: ``async serve(env) -> (server, port)`` on 127.0.0.1, where
``env`` answers the Runtime API calls (environment.Environment):
``await env.api_next() -> (headers, body)``, ``env.api_response(id, body)``,
``env.api_error(id, body, error_type)``, ``env.api_init_error(body, error_type)``,
each of the last three returning ``(status, json_dict)``.
"""

RUNTIME_API = None
