"""Critique parsing and critique → reward."""

from src.reward.parse import CritiqueParseError, parse_critique
from src.reward.reward import CandidateReward, RewardConfig, critique_to_reward

__all__ = ["CandidateReward", "CritiqueParseError", "RewardConfig", "critique_to_reward", "parse_critique"]
