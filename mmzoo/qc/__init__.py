"""Speech quality inspection: synthetic corruptions of clean speech and their labels."""
