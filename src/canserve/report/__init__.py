"""Plots and reports (optional extra: pip install 'canserve[plot]')."""
