"""Data: precomp reader (memory-mapped), synthetic scenes, vocabulary, batching."""
