// Package meshproc starts real `rendezvous` and `meshnode` processes for the demo,
// the benchmarks and the end-to-end tests: it waits until each is ready, keeps
// their output for assertions and post-mortems, and makes sure they die with their
// parent (process group + parent-death signal).
package meshproc
