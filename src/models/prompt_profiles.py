"""Critic prompt profiles: which words, message layout, image encoding and sampling a judge is asked with.

SKELETON (to be completed by the prompt-profile work of the hardening issue): today only the built-in profile
exists. The public names below are the contract the judge builds on: ``CriticProfile.build_request`` and
``CriticProfile.sampling``; ``builtin_profile()``; ``load_profile(path)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from src.models.prompts import build_critic_messages
from src.rollout.engine import ChatRequest, ImageFormat, SamplingSettings


@dataclass(frozen=True)
class CriticProfile:
    """A judge's prompt protocol. ``build_request`` is all a judge needs from it."""

    name: str = "builtin"
    image_format: ImageFormat = "png"
    sampling: SamplingSettings = field(default_factory=lambda: SamplingSettings(temperature=0.0, max_new_tokens=1024))

    def build_request(self, domain: str, reference_image: Image.Image, candidate_image: Image.Image) -> ChatRequest:
        """The chat request asking this profile's critic to compare ``candidate_image`` with ``reference_image``."""
        messages = build_critic_messages(domain, reference_image, candidate_image)
        return ChatRequest(messages=messages, image_format=self.image_format)


def builtin_profile() -> CriticProfile:
    """Our own critic prompt (the one ``RewardModelSFT`` trains with)."""
    return CriticProfile()
