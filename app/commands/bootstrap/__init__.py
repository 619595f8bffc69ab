"""``facegate bootstrap``: NocoDB made ready for facegate, and the settings written.

- ``command``      ``run_bootstrap``: the settings file, read before and written after
- ``changes``      what a run changed, one line each ("nothing changed" when so)
- ``nocodb``       ``bootstrap()`` (a table of its own) and ``attach()`` (the campaign's table)
- ``credentials``  the API token: the operator's, checked, or made with the admin's login
- ``columns``      the politician, image and Status columns: types checked, added, select options
- ``forms``        the public upload form, its success message; Status hidden in every form
- ``own_columns``  facegate's stamp and note columns: added, hidden in every form
- ``review``       the ``Review`` grid view: the rows in review, oldest first
- ``webhook``      facegate's one webhook on the table
- ``errors``       ``BootstrapError``, and NocoDB's errors translated into it

NocoDB's API itself (the calls and their shapes) is ``app.integrations.nocodb.meta``.
"""

from app.commands.bootstrap.changes import NOTHING_CHANGED, Changes
from app.commands.bootstrap.command import TOKEN_SETTING, run_bootstrap
from app.commands.bootstrap.errors import BootstrapError
from app.commands.bootstrap.nocodb import BootstrapResult, attach, bootstrap

__all__ = [
    "NOTHING_CHANGED",
    "TOKEN_SETTING",
    "BootstrapError",
    "BootstrapResult",
    "Changes",
    "attach",
    "bootstrap",
    "run_bootstrap",
]
