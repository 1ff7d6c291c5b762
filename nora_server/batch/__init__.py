"""Batch processing: NORA batches (ordered jobs) run per subject or study through submitit.

Modules, inwards first:

* ``model``      the batch JSON (jobs, arguments, study selectors) and its validation
* ``substitute`` ``$f1..$f9``, ``$o1..``, ``$p1..``, ``$s1..``, ``$n1..`` with safe quoting
* ``resolve``    study selection and file patterns -> absolute paths (files listed by a plug-in)
* ``functions``  registered Python job functions (job code lives in the package)
* ``runner``     what runs inside one array task: the batch's jobs in order for one target
* ``scheduler``  submitit executors (local, Slurm) and the one-query state refresh
* ``tables``     the job table (NORA's gridjobs) and launches, SQLAlchemy
* ``service``    launch, refresh, cancel, re-run the failed subset
"""
