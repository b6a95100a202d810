"""Words, figures and documents from result tables alone (pandas and matplotlib, no torch): the prose of verdicts and
summaries, the plots, the one-screen summary, the table across resolutions, the README's generated blocks."""
