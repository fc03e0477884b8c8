"""Policies as code: decision tests next to the policies (:mod:`.suite`), replay of recorded
traffic through a candidate set (:mod:`.diff`), who-can-do-what on a repository (:mod:`.matrix`)
and a candidate set deciding live traffic without effect (:mod:`.shadow`).

Every one of them decides by :mod:`regproxy.authorization.flow`, the flow the server runs.
"""
