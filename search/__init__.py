"""gespace's campaign layer: search a design space on Ray Tune, store and report the trials."""

SEARCHERS = ("random", "sobol", "grid", "tpe", "nsga2")
SCHEDULERS = ("none", "asha", "mosha", "moasha")
