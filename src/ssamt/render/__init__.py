"""Pictures of gallery images and self-contained HTML pages (no network needed to view).

scene_svg:    a synthetic scene (objects, attributes, relations, boxes) drawn as SVG.
pictures:     what to show for an image of any gallery (SVG, a JPEG file, or its captions).
explain_html: the phrase-level explanation of one pair as a page (paper Figure 3).
"""
