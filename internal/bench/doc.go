// Package bench measures meshnode against baselines measured in the same run, on
// this machine, side by side: machines here are noisy, so every figure is reported
// next to its baseline and as a ratio of medians. Nothing here asserts a number;
// `just bench --quick` only keeps the harness from rotting.
package bench
