"""Authorization: the one decision flow and what its drivers share (pure core).

- :mod:`.permissions`: the permissions a request needs;
- :mod:`.scopes`: the one table from requests to Docker token scopes;
- :mod:`.verdict`: facts, checks and the verdict (what the client is told);
- :mod:`.flow`: the sans-I/O decision flow every driver runs;
- :mod:`.grants`: what the token service grants, by the same evaluator;
- :mod:`.listing`: paginated listings filtered to what the caller may see;
- :mod:`.uploads`: upload sessions sealed to the principal that opened them;
- :mod:`.source`, :mod:`.public`: the client's address, config ``public``.
"""

from regproxy.authorization.public import public_statements
from regproxy.authorization.source import client_address

__all__ = ["client_address", "public_statements"]
