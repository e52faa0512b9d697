"""The paper's analyses of trained points (selectivity, importance pruning) and EDF comparisons."""
