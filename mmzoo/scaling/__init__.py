"""Scaling a recipe: FSDP2 sharding, activation checkpointing, ``torch.compile``, strategies.

Everything here is applied from ``MultimodalModule.configure_model`` (the hook Lightning calls
once the processes and devices exist) and from ``trainer.strategy`` in a recipe; see
``docs/scaling.md``. Submodules are imported where they are used, so that importing one does not
pull in ``torch.distributed``.
"""
