"""The SNN library and the search space as data: neurons, surrogates, token mixers, encoder
blocks, the architecture spec, the model builder, cost metrics and export.

Imports torch and pydantic only; nothing here knows about Ray, Optuna, SQL or HTTP.
"""
