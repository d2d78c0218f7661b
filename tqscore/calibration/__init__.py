"""Human labels against tqscore's scores: ``tqscore agree`` measures, ``tqscore calibrate`` adapts.

- :mod:`.labels` reads the label formats (opinion scores per clip, pairwise judgements) and
  checks them line by line;
- :mod:`.match` pairs labelled videos with the rows of a scores table;
- :mod:`.agree` measures agreement (SRCC, PLCC after the four-parameter logistic, KRCC, RMSE;
  the vote-weighted two-alternative agreement for pairs) with bootstrap intervals;
- :mod:`.fit` fits the reference scorer's evidence weights and a monotone mapping to labels,
  cross-validated against the default weights;
- :mod:`.scorer` is the calibration file (YAML) and the scorer that applies it.

docs/calibration.md is the user's guide.
"""
