"""Executors: submitit's local executor (the default) and Slurm, behind one small interface.

A scheduler has ``kind`` (``"local"`` or ``"slurm"``) and four methods:

* ``start_launch(spec_path, n, folder, resources, name) -> Started``: starts the ``n`` tasks
  of a launch (one per subject or study) as ONE submission (one Slurm array); its ``wait()``
  gives the submissions (the launch writes the job table in between);
* ``query({job_id: status_path}) -> {job_id: Observation}``: every job's state with one
  scheduler query (``last_queries`` says how many it took; a job the scheduler does not know is
  ``Observation(None)``, kept as it was, never an error);
* ``cancel(job_ids, status_paths)``;
* ``submit_array(fn, args, folder, resources, name)``: any function over argument tuples.

The modules: :mod:`nora_server.batch.states` (states, resources, retries),
:mod:`nora_server.batch.local`, :mod:`nora_server.batch.slurm`.
"""

from __future__ import annotations

from nora_server.batch.local import LocalScheduler
from nora_server.batch.slurm import SLURM_REASONS, SLURM_STATES, SlurmScheduler, expand_array_ids
from nora_server.batch.states import (ACTIVE, FINAL, STATES, Observation, Resources,
                                      SchedulerUnavailable, Submitted, run_command)


__all__ = ["ACTIVE", "FINAL", "STATES", "SLURM_REASONS", "SLURM_STATES", "LocalScheduler",
           "Observation", "Resources", "SchedulerUnavailable", "SlurmScheduler", "Submitted",
           "expand_array_ids", "make_scheduler", "run_command"]


def make_scheduler(section: dict):
    """The scheduler a ``[batch]`` section of ``nora.toml`` asks for (``executor``: ``local``,
    the default, or ``slurm``; ``slurm_conf``, ``sbatch``, ``local_parallel``)."""
    kind = section.get("executor", "local")
    if kind == "slurm":
        return SlurmScheduler(slurm_conf=section.get("slurm_conf"),
                              sbatch_extra=section.get("sbatch"))
    if kind == "local":
        par = section.get("local_parallel")
        return LocalScheduler(parallelism=int(par) if par else None)
    raise ValueError(f"[batch] executor = {kind!r} in nora.toml: use 'local' or 'slurm'")
