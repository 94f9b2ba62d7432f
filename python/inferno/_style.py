"""One plotting style for every figure inferno draws: the Okabe-Ito colour-blind-safe palette and
markers that tell series apart without colour."""

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
