//go:build race

package e2etest

// raceEnabled reports whether the test binary runs with the race detector;
// BuildGateway then builds the gateway with -race too.
const raceEnabled = true
