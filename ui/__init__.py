"""The gemma-jax dashboard: param state classes (ui.state, no Panel import) and thin Panel views (ui.views).

It reaches the engine only through gemma_jax's public API and run directories; training,
evaluation, export and generation run in their own processes.
"""
