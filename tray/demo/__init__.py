"""Virtual cards: the same simulated cards serve the test bench (through vpcd) and --demo."""
