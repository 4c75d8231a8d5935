"""Windows -> labeled, split, oversampled window datasets (Hugging Face `datasets`), and their Hub repos."""
