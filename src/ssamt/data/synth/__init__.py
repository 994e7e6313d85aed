"""The built-in synthetic data (`ssamt synth`): scenes with objects, attributes, relations and
boxes, their region features and captions in the precomp format, and their minimal pairs
(a true caption or image and the same with one edit that makes it false).

    generator.py  generate(out_dir, size, seed): every split, atomically, with a manifest
    world.py      the vocabulary of the world (objects, attributes, relations, settings)
    scene.py      scenes sampled from the world
    draw.py       a scene's layout and objects (generator 2: several objects of one type)
    features.py   region features and boxes rendered from a scene
    caption.py    the structure of a caption (what it names), text.py its words
    truth.py      whether a caption is true of a scene
    edits.py      one-edit changes of a caption or an image; minimal.py the pair files
"""
