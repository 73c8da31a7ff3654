"""Imported first by the local cluster's fork server (``WORKER_PRELOAD`` in
:mod:`facs_rig.cluster.engine`): SIGINT is ignored from here on, in the server and in every
worker it forks (``multiprocessing.forkserver.main`` gives its children the handlers it finds
after its preload). A terminal's Ctrl-C reaches the whole process group; the ``facs-rig batch``
client alone handles it and stops the workers cleanly, where each worker would print a
traceback. The server starts with SIGINT blocked (its parent blocks it while starting it), so
a Ctrl-C before this import stays pending and is discarded here.

It lives outside :mod:`facs_rig.cluster`, whose ``__init__`` imports the batch code: this import
must come before anything slow.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
