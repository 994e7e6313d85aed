"""`ssamt serve`: a web app over an index: a static page and a JSON API under /api/."""
