//go:build race

package ice

const raceEnabled = true
