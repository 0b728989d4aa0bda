"""``spark-submit`` entry point for landing one source on any Spark master.

    spark-submit --master spark://host:7077 --packages io.delta:delta-spark_4.2_2.13:4.4.0 \\
        spark_jobs/landing/main.py --source mes --start 2026-03-02 --end 2026-03-08

Arguments are those of ``andon land`` (see ``andon land --help``). With ``spark.master`` left
empty in the configuration (``ANDON__SPARK__MASTER=``), the master given to spark-submit is used.
"""

from __future__ import annotations

import sys

from andon.cli import main

if __name__ == "__main__":
    sys.exit(main(["land", *sys.argv[1:]]))
