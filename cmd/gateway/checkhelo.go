package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/smtpgateway/gateway/heloguard"
)

// checkHELO runs the HELO policy on one name exactly as the server would
// (same configuration, same resolver, the very Evaluate the session calls)
// and explains each result and its fix.
func checkHELO(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-helo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded lab configuration)")
	ipFlag := fs.String("ip", "", "the client's address (default: the name's first A/AAAA record)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	authed := fs.Bool("auth", false, "evaluate as an authenticated client")
	plainHELO := fs.Bool("helo", false, "evaluate as a client that said HELO, not EHLO (replies without enhanced status codes)")
	dnsFlag := fs.String("dns", "", "DNS servers to use instead of [dns] servers, comma-separated")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gateway check-helo [-config FILE] [-ip ADDRESS] [-json] [-auth] [-helo] [-dns SERVERS] NAME")
		return 2
	}
	name := fs.Arg(0)

	cfg, _, err := loadConfig(*path, *dnsFlag)
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-helo: %v\n", err)
		return 2
	}
	built, err := build(cfg, buildOptions{dryRun: true})
	if err != nil {
		fmt.Fprintf(stderr, "gateway check-helo: configuration problems:\n%v\n", indent(err))
		return 2
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ip netip.Addr
	if *ipFlag != "" {
		ip, err = netip.ParseAddr(*ipFlag)
		if err != nil {
			fmt.Fprintf(stderr, "gateway check-helo: -ip %q is not an IP address\n", *ipFlag)
			return 2
		}
	} else {
		addrs, err := built.resolver.LookupIPAddr(ctx, name)
		if err != nil || len(addrs) == 0 {
			fmt.Fprintf(stderr, "gateway check-helo: %q has no address to take as the client's; give the sending server's address with -ip\n", name)
			return 2
		}
		ip, _ = netip.AddrFromSlice(addrs[0].IP)
		ip = ip.Unmap()
		fmt.Fprintf(stderr, "note: no -ip given, taking %s (the first address of %s) as the client's address\n", ip, name)
	}

	v := built.env.HELO.Evaluate(ctx, heloguard.Client{
		IP:            ip,
		HELO:          name,
		Sent:          true,
		EHLO:          !*plainHELO,
		Authenticated: *authed,
	}, built.resolver)
	rep := built.env.HELO.Report(v)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "gateway check-helo: %v\n", err)
			return 2
		}
	} else if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "gateway check-helo: %v\n", err)
		return 2
	}
	if rep.Accepted {
		return 0
	}
	return 1
}
