"""`gemma-jax serve`: an OpenAI-compatible HTTP server on our KV-cache decoder.

protocol.py reads and checks requests (no JAX), prompts.py turns them into token ids,
scheduler.py batches concurrent requests through one Generator (rows.py follows each
request's tokens; the tokenizer's special_ids never become text), responses.py writes OpenAI's
JSON and server-sent events, app.py is the Starlette app, model_source.py resolves what to serve,
command.py runs it under uvicorn, whose connections get a deadline for request heads (http_protocol.py).
A request without `temperature` is answered greedily (temperature 0), unlike OpenAI's and vLLM's 1.0.
"""
