"""Image captioning: recurrent and attention captioners, their solver, BLEU and caption data."""
