"""The hooks a plugin implements to add components to mmzoo.

A plugin is any importable module or object with functions marked ``@mmzoo.hookimpl``, named by an
entry point in the ``mmzoo`` group of its distribution::

    [project.entry-points.mmzoo]
    my-plugin = "my_package.plugin"

Each hook receives a :class:`~mmzoo.registry.Registrar` for one kind of component and calls
``registrar.add(name, factory)`` for each component it provides. mmzoo's own encoders, fusions,
heads, objectives and datamodules are registered through these same hooks.

Every hook is optional: implement only those for the kinds you provide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from mmzoo.registry import Registrar

PROJECT_NAME = "mmzoo"
ENTRY_POINT_GROUP = "mmzoo"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME", "ENTRY_POINT_GROUP"]


@hookspec
def mmzoo_register_encoders(registrar: Registrar) -> None:
    """Register encoders: modules that turn one modality into features.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns an
            :class:`~mmzoo.contracts.Encoder`; it may accept ``input_spec``
            (a :class:`~mmzoo.contracts.ModalitySpec` describing its input), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_fusions(registrar: Registrar) -> None:
    """Register fusions: modules that combine the encoded modalities into one representation.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.Fusion`; it may accept ``input_dims`` (modality -> encoder
            width), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_heads(registrar: Registrar) -> None:
    """Register task heads: modules that turn the fused representation into task outputs.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.Head`; it may accept ``in_dim`` (fused width),
            ``encoder_dims`` (modality -> encoder width) and ``input_specs`` (modality ->
            :class:`~mmzoo.contracts.ModalitySpec` of the encoder inputs), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_decoders(registrar: Registrar) -> None:
    """Register sequence decoders: modules that generate token sequences from a memory.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.Decoder`; it may accept ``memory_dim`` (the width of the
            encoder or fusion it attends to), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_objectives(registrar: Registrar) -> None:
    """Register objectives: losses computed from head outputs and the batch, with their metrics.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns an
            :class:`~mmzoo.contracts.Objective`; it may accept ``heads`` (head or decoder name ->
            the built module) and ``input_specs`` (modality -> ModalitySpec), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_weightings(registrar: Registrar) -> None:
    """Register multi-task weighting rules: how the objectives' losses become one training loss.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.Weighting`; it may accept ``objectives`` (the objective names,
            in recipe order), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_datamodules(registrar: Registrar) -> None:
    """Register datamodules: sources of batches in mmzoo's batch format.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.datamodule.MultimodalDataModule`; it may accept ``seed`` (the recipe's
            seed) and ``transforms`` (modality -> list of built transforms from the recipe's
            ``transforms:`` section), which mmzoo passes in.
    """


@hookspec
def mmzoo_register_transforms(registrar: Registrar) -> None:
    """Register transforms: per-example steps that turn decoded data into model inputs.

    Args:
        registrar: call ``registrar.add(name, factory)``. The factory returns a
            :class:`~mmzoo.contracts.Transform`.
    """
