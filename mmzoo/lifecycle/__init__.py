"""A run's lifecycle around the components: checkpoints that mean what they say, exact resume,
preemption, and checkpoints loaded without running code from them.

- :mod:`~mmzoo.lifecycle.checkpoint_io`: every checkpoint write is atomic, and a failed write stops
  the run with the path and the operating system's reason.
- :mod:`~mmzoo.lifecycle.last_checkpoint`: ``last.ckpt`` at every epoch end and, on request, every N
  optimizer steps or minutes.
- :mod:`~mmzoo.lifecycle.random_state`: the random-number generators' states travel in every
  checkpoint, so a resumed run draws what an uninterrupted one would.
- :mod:`~mmzoo.lifecycle.preemption`: SIGTERM and SIGUSR1 save a checkpoint at the current step and
  stop the run with :data:`EXIT_INTERRUPTED`.
- :mod:`~mmzoo.lifecycle.loading`: reading checkpoints with ``weights_only``.
- :mod:`~mmzoo.lifecycle.names`: the file names, importable without torch.

The package itself imports nothing, so that importing :mod:`mmzoo.run` stays cheap.
"""
