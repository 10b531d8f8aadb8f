"""Vertex AI custom training jobs from a job config: the spec (`job_spec`), its machines (`machines`),
and submitting and polling it with the official client (`client`; `pip install gemma-jax[vertex]`)."""
