"""Start a project's autoexecution queue on freshly imported studies (``nora --import
--autoexec_queue``, the node's ``autoexec`` policy, pulls).

Launching is the batch package's :func:`nora_server.batch.archive_link.launch_autoexec` (it
also sends the jobs to the site's import queue) with the runner for the site's ``[batch]``
settings (:func:`nora_server.batch.site.open_runner`). This module only connects them to an
import's studies and keeps the runner, to wait for the jobs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class AutoexecLaunch:
    runner: object          # nora_server.batch.service.BatchRunner
    launch_id: str
    job_ids: list[int]

    def wait(self, timeout: float = 24 * 3600) -> list:
        """Wait until every job has finished; returns their rows (``state``, ``message``).
        Raises TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.25
        while True:
            if self.runner.refresh(launch_id=self.launch_id).checked == 0:
                return self.runner.jobs(launch_id=self.launch_id, include_done=True)
            if time.monotonic() > deadline:
                raise TimeoutError(f"autoexec launch {self.launch_id} still running after "
                                   f"{timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)


def launch_autoexec(settings, archive, session, project: str, refs: list[str],
                    queue: str = "DEFAULT") -> AutoexecLaunch:
    """Launch the autoexecution queue ``queue`` of ``project`` for the studies ``refs``
    (``PID#SID``; a subject-level queue runs once per subject). Raises
    :class:`nora_server.batch.model.BatchError` when the queue is missing or empty."""
    from nora_server.batch.archive_link import launch_autoexec as launch
    from nora_server.batch.site import open_runner

    runner = open_runner(settings, archive, session)
    res = launch(session, project, refs, queue, settings=settings, runner=runner)
    log.info("autoexec %s of %s: launch %s, %d job(s)", queue, project, res.launch_id,
             len(res.job_ids))
    return AutoexecLaunch(runner, res.launch_id, list(res.job_ids))
