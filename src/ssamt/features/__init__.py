"""Region features for a folder of one's own photos (ssamt features), in the precomp format."""
