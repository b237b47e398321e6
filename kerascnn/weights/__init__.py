"""Pretrained weights: where they come from, how they are converted, what input they expect.

(Being built for issue 12.)
"""
