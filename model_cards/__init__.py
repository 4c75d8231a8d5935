"""Model cards for trained LogLLM models, filled from real evaluation files."""

from model_cards.card import load_metrics_file, render_model_card, validate_model_card

__all__ = ["load_metrics_file", "render_model_card", "validate_model_card"]
