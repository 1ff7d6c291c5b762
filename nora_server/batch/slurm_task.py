"""Entry point of a launch's Slurm array task: ``python -m nora_server.batch.slurm_task FOLDER``.

A launch writes ONE task pickle (``FOLDER/task.pkl``). Each task links it under its own name
(``<array id>_<task id>_submitted.pkl``, submitit's layout) and then runs submitit's task
runner, so logs, result pickles and ``submitit.SlurmJob`` work as usual while the launcher
writes no per-task file. The launch writes the pickle once sbatch runs: a task that starts
first finds a dangling link, and submitit's runner waits for it (up to 60 s).
"""

from __future__ import annotations

import os
import sys


def main(argv=None) -> None:
    folder = (argv or sys.argv[1:])[0]
    name = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}_submitted.pkl"
    try:
        os.symlink("task.pkl", os.path.join(folder, name))
    except FileExistsError:
        pass
    from submitit.core.submission import process_job
    process_job(folder)


if __name__ == "__main__":
    main()
