"""A site's batch runner from its ``nora.toml``: the ``[batch]`` section.

::

    [batch]
    executor = "slurm"               # or "local" (the default: submitit's local executor)
    folder = "/data/nora/jobs"       # submitit files, task status and logs
                                     # (default: "jobs" beside the storage folder)
    local_parallel = 4               # local executor: tasks of a launch at once (default: CPUs)
    slurm_conf = "/etc/slurm/slurm.conf"
    partition = "DPXproc"            # the processing queue (default partition if unset)
    import_partition = "DPXimport"   # the import queue: autoexecution after an import
    cpus = 1                         # default resources of one task (a batch may ask for more)
    mem_gb = 4
    time_min = 120
    sbatch = {account = "imaging"}   # any other sbatch option
"""

from __future__ import annotations

from pathlib import Path

from nora_server.config import ConfigError


def batch_section(settings) -> dict:
    return dict((getattr(settings, "sections", None) or {}).get("batch") or {})


def jobs_folder(settings, section: dict | None = None) -> Path:
    section = batch_section(settings) if section is None else section
    return Path(section.get("folder") or Path(settings.storage).parent / "jobs")


def queues(section: dict) -> dict:
    """The site's named queues: ``processing`` and ``import`` -> Slurm partitions."""
    return {"processing": section.get("partition"), "import": section.get("import_partition")}


def open_runner(settings, archive, session):
    """The :class:`~nora_server.batch.service.BatchRunner` of a site for ``session``'s user:
    its scheduler, folder, default resources and queues from ``settings``, files from the
    archive's index, OUT files registered in the archive, ``nora`` usable inside jobs."""
    from nora_server.batch.archive_link import (ArchiveAccess, ArchiveFiles, ArchiveRegistrar,
                                                install_job_filter)
    from nora_server.batch.scheduler import make_scheduler
    from nora_server.batch.service import BatchRunner
    from nora_server.batch.states import Resources

    install_job_filter()
    section = batch_section(settings)
    try:
        scheduler = make_scheduler(section)
        defaults = Resources(section.get("partition"), int(section.get("cpus", 1)),
                             section.get("mem_gb"), int(section.get("time_min", 60)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[batch] in {settings.path or 'nora.toml'}: {exc}") from None
    access = ArchiveAccess.of(session, settings.path)
    return BatchRunner(archive.engine, scheduler, folder=jobs_folder(settings, section),
                       files=ArchiveFiles(access), registrar=ArchiveRegistrar(access),
                       job_env=access.job_env(), user=session.user, default_resources=defaults,
                       queues=queues(section))
