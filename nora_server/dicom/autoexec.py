"""Start a project's autoexecution queue on freshly imported studies (``nora --import
--autoexec_queue``, the node's ``autoexec`` policy, pulls).

Launching is the batch package's: the queue comes from
:func:`nora_server.batch.archive_link.autoexec_batch`, the targets from
:func:`~nora_server.batch.archive_link.archive_targets` and the runner for the site's
``[batch]`` settings from :func:`nora_server.cli.batch_commands.make_runner`; this module only
connects them to an import's studies.
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
    from nora_server.batch.archive_link import archive_targets, autoexec_batch
    from nora_server.cli.batch_commands import make_runner

    doc = autoexec_batch(session, project, queue)
    level = doc.get("level", "subject")
    wanted = refs if level == "study" else sorted({r.split("#")[0] for r in refs})
    targets = archive_targets(session, project, level=level, refs=wanted)
    runner = make_runner(settings, archive, session)
    res = runner.launch(doc, targets, project=project)
    log.info("autoexec %s of %s: launch %s, %d job(s)", queue, project, res.launch_id,
             len(res.job_ids))
    return AutoexecLaunch(runner, res.launch_id, list(res.job_ids))
