"""Training: the loop, the objectives (a loss plus LTD or IFM), gradient clipping, learning-rate
schedules, devices and precision, and the training state a run resumes from. Builds on evaluation
(the objectives' encoders), models, data and the concepts below.
"""
