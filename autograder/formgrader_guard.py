"""The formgrader's own pages, hardened from the course's config (nbgrader_config.py).

The submission page's notebook is made safe by ``autograder.sanitize``; two more holes are
nbgrader's own, in the Jupyter server process, on the server's origin:

- nbgrader renders its pages (``manage_students/<student>``, ``manage_submissions/<assignment>``,
  ``gradebook/<assignment>/<notebook>``, the missing-submission page) with a Jinja
  environment without autoescaping, and puts the student id, the assignment and notebook
  names, from the gradebook or straight from the URL, into HTML and into ``<script>``
  strings. A student id that is HTML (it is the name of the submission folder) runs when
  its student page is opened, and so does a link to such a URL sent to the instructor.
  ``harden`` makes that environment escape (``autoescape=True``).
- ``/formgrader/submissions/<id>/<file>`` serves any file of the graded submission (an
  ``.html`` or ``.svg`` the student handed in) as a page of the server's origin, scripts
  enabled. ``harden`` adds ``sandbox`` to that handler's Content-Security-Policy, as
  jupyter_server does for ``/files/``: such a page runs no script and has no origin.

nbgrader_config.py calls ``harden`` every time it is loaded. It acts only where nbgrader's
formgrader is already imported (the Jupyter server, which loads the formgrader extension
before it reads this config and builds its Jinja environment after), so nbgrader's
command-line apps do not pay for importing the server extension.
"""
from __future__ import annotations

import sys

from jinja2 import Environment

FORMGRADER = "nbgrader.server_extensions.formgrader.formgrader"
HANDLERS = "nbgrader.server_extensions.formgrader.handlers"


def escaping_environment(*args, **kwargs) -> Environment:
    """jinja2.Environment with autoescaping on (nbgrader's formgrader builds one without)."""
    kwargs["autoescape"] = True
    return Environment(*args, **kwargs)


def harden() -> bool:
    """Patch the loaded formgrader (see module doc); False when it is not loaded here."""
    formgrader = sys.modules.get(FORMGRADER)
    handlers = sys.modules.get(HANDLERS)
    if formgrader is None or handlers is None:
        return False
    formgrader.Environment = escaping_environment
    files = handlers.SubmissionFilesHandler
    if not getattr(files, "_course_sandboxed", False):
        base = files.content_security_policy  # jupyter_server's property, through the handler's bases

        def content_security_policy(self):
            return base.fget(self) + "; sandbox"

        files.content_security_policy = property(content_security_policy)
        files._course_sandboxed = True
    return True
