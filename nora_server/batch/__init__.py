"""Batch processing: NORA batches (ordered jobs) run per subject or study through submitit.

Modules, inwards first:

* ``model``      the batch JSON (jobs, arguments, study selectors), its validation, job kinds
* ``substitute`` ``$f1..$f9``, ``$o1..``, ``$p1..``, ``$s1..``, ``$n1..`` with safe quoting
* ``resolve``    study selection and file patterns -> absolute paths; previews
* ``functions``  registered Python job functions with their argument templates
* ``runner``     what runs inside one task: the batch's jobs in order for one subject/study
* ``states``     job states, resources, retried scheduler commands
* ``local``      submitit's local executor, a few tasks at a time (the default)
* ``slurm``      Slurm through submitit: one array per launch, sacct/squeue, scancel
* ``scheduler``  the two behind one interface, chosen by ``nora.toml``
* ``tables``     the job table (NORA's gridjobs) and launches, SQLAlchemy
* ``jobtable``   fast writes of a launch's rows
* ``jobviews``   listing, one job's JSON, launches, markers, logs
* ``service``    BatchRunner: launch, refresh, cancel, re-run the failed subset
* ``archive_link`` targets, files and OUT registration on the archive; saved batches;
                 the autoexecution queue (``launch_autoexec``); ``JOB:`` filters
* ``site``       a site's runner from ``nora.toml`` ``[batch]``
* ``client``     BatchClient: the calls of the desktop's batch tool and job monitor
"""
