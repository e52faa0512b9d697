"""gespace's campaign layer: search a design space on Ray Tune, store and report the trials."""

SEARCHERS = ("random", "sobol", "grid", "tpe", "nsga2", "ablation")
SCHEDULERS = ("none", "asha", "mosha", "moasha")
