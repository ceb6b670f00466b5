"""Generation engines (HF ``generate``, an OpenAI-compatible server, in-process vLLM) and the rollout Callback."""
