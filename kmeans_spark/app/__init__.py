"""The batch job: ``python -m kmeans_spark COMMAND ...`` or ``spark-submit jobs/kmeans_job.py
COMMAND ...``.

One module per subcommand (``fit``, ``predict``, ``demo``), registered in :mod:`.cli`; what
they share, top to bottom:

* :mod:`.cli`: the parser built from the subcommands, exit codes, error messages (Spark's
  errors in one line: a JVM exception's own message, a file that cannot be read);
* :mod:`.flags` and :mod:`.config`: flags and TOML tables, both derived from
  :mod:`kmeans_spark.options`, validated before Spark starts;
* :mod:`.paths`: where a run may write, from the paths alone (no file system);
* :mod:`.runner`: a run's first log lines, SparkSession, summary fields and one-line result;
* :mod:`.io`: input reading, the atomic output with its marker, saved models, the job's
  file system (Hadoop's in a classic session, pyarrow's under Spark Connect);
* :mod:`.features` (Spark: the input every command starts from, column choice, a saved
  model's columns, numeric conversion, input statistics) and
  :mod:`.scaler` (numpy: the feature scaling saved with a model).

Only :mod:`.runner`, :mod:`.io` and :mod:`.features` import pyspark, and only once a
command runs: ``--help`` and every configuration error come back without loading it.
"""
