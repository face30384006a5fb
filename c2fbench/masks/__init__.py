"""Algorithm 1, lines 1-2: coarse masks, GrabCut enhancement, label assignment."""
