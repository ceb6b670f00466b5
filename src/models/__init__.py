"""Loading vision-language models and their processors, the tiny test model, and the critic prompts."""

from src.data.prompts import build_critic_messages, critic_instruction
from src.models.loading import LoraSettings, VLMLoader, load_vlm, load_vlm_model, load_vlm_processor, save_adapter
from src.models.processor import ImageOnlyQwen3VLProcessor, load_processor
from src.models.tiny import build_tiny_qwen3_vl

__all__ = [
    "LoraSettings",
    "VLMLoader",
    "load_vlm",
    "load_vlm_model",
    "load_vlm_processor",
    "save_adapter",
    "ImageOnlyQwen3VLProcessor",
    "build_critic_messages",
    "build_tiny_qwen3_vl",
    "critic_instruction",
    "load_processor",
]
