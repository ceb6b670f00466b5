"""Training data: critique schema, seeds, perturbations with exact labels, synthesis, shard I/O, DataModules.

Kept free of imports on purpose: ``import src.data.schema`` must not pull in Lightning, transformers or a render
pool. Import what you need from its module (``src.data.reward_datamodule.RewardModelDataModule``, the
``class_path`` the configs use; ``src.data.synthesis.synthesize``; ``src.data.shards.load_pairs``).
"""
