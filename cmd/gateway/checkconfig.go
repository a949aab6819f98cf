package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"gateway/config"
)

// checkConfig validates a file as deeply as serve would (without opening
// anything) and prints the effective configuration with secrets masked.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file to check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "gateway check-config: -config FILE is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err == nil {
		var rt *gwRuntime
		rt, err = build(cfg, buildOptions{dryRun: true})
		if err == nil {
			for _, w := range rt.warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
			for _, p := range placeholders(cfg) {
				fmt.Fprintf(stderr, "warning: %s\n", p)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %s is not valid:\n%v\n", *path, config.MaskURLPasswords(indent(err)))
		return 1
	}
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-config: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid. Effective configuration (defaults filled in, secrets masked):\n%s", *path, out)
	return 0
}

func indent(err error) string {
	return "  " + strings.ReplaceAll(err.Error(), "\n", "\n  ")
}
