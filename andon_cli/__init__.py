"""The ``andon`` command line: one entry point that dispatches to the stages."""
