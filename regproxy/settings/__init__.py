"""Settings: declared once (:mod:`regproxy.config`), parsed purely (:mod:`.parse`), documented
from the declarations (:mod:`.docs`); only :mod:`.files` (the edge) reads files."""
