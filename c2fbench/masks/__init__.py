"""Algorithm 1's masks: coarse masks, GrabCut enhancement and category assignment (lines 1-2),
and the between-round refinement strategies (lines 6-7)."""
