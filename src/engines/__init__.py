"""Generation engines behind one protocol (HF ``generate``, an OpenAI-compatible client, in-process vLLM) and the
OpenAI-compatible server; the critic, the matcher, refinement and the policy all generate through them."""
