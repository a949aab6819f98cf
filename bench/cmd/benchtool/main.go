// Command benchtool is the Go side of the load harness (bench/run.sh): a
// loopback DNS server, SMTP clients the Postfix tools do not provide
// (per-message latency, thousands of idle sessions, concurrent cold DNS
// sessions), a /proc sampler for RSS and CPU, and the report that turns
// the raw result lines into medians and ratios.
//
// Every subcommand is bounded in time; none of them touches anything but
// loopback addresses.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "dns":
		err = runDNS(args)
	case "latency":
		err = runLatency(args)
	case "idle":
		err = runIdle(args)
	case "cold":
		err = runCold(args)
	case "proc":
		err = runProc(args)
	case "sample":
		err = runSample(args)
	case "sink":
		err = runSink(args)
	case "metrics":
		err = runMetrics(args)
	case "report":
		err = runReport(args)
	case "gate":
		err = runGate(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool dns|latency|idle|cold|proc|sample|sink|metrics|report|gate [flags]")
	os.Exit(2)
}
