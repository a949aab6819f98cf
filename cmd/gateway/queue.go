package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smtpgateway/gateway/config"
	"github.com/smtpgateway/gateway/queue"
)

const queueUsage = `usage:
  gateway queue list   [-config FILE | -dir DIR] [-json]
  gateway queue show   [-config FILE | -dir DIR] [-json] ID
  gateway queue flush  [-config FILE | -dir DIR] [ID...]   (no ID: every message)
  gateway queue delete [-config FILE | -dir DIR] ID...
The spool is [queue] dir of the configuration file, or -dir. The commands
are safe while the gateway runs on the same spool.
`

// queueCmd runs the queue admin verbs on the spool directory, alongside
// (or without) the gateway process that owns it.
func queueCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelpFlag(args[0]) {
		fmt.Fprint(stderr, queueUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("queue "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file whose [queue] dir is the spool")
	dirFlag := fs.String("dir", "", "the spool directory (instead of -config)")
	asJSON := false
	if sub == "list" || sub == "show" {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ids := fs.Args()
	switch {
	case sub == "list" && len(ids) > 0:
		fmt.Fprintf(stderr, "gateway queue list: unexpected argument %q\n", ids[0])
		return 2
	case sub == "show" && len(ids) != 1, sub == "delete" && len(ids) == 0:
		fmt.Fprint(stderr, queueUsage)
		return 2
	case sub != "list" && sub != "show" && sub != "flush" && sub != "delete":
		fmt.Fprintf(stderr, "gateway queue: unknown command %q\n%s", sub, queueUsage)
		return 2
	}
	dir, err := spoolDir(*path, *dirFlag)
	if err != nil {
		fmt.Fprintf(stderr, "gateway queue %s: %v\n", sub, err)
		return 2
	}
	switch sub {
	case "list":
		return queueList(dir, asJSON, stdout, stderr)
	case "show":
		return queueShow(dir, ids[0], asJSON, stdout, stderr)
	case "flush":
		if err := queue.Flush(dir, ids...); err != nil {
			fmt.Fprintf(stderr, "gateway queue flush: %v\n", err)
			return 1
		}
		if len(ids) == 0 {
			fmt.Fprintln(stdout, "every message is due now; the gateway retries within a second")
		} else {
			fmt.Fprintf(stdout, "%d message(s) due now; the gateway retries within a second\n", len(ids))
		}
		return 0
	default: // delete
		if err := queue.Delete(dir, ids...); err != nil {
			fmt.Fprintf(stderr, "gateway queue delete: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%d message(s) deleted (no DSN sent)\n", len(ids))
		return 0
	}
}

// spoolDir finds the spool: -dir, or [queue] dir of the configuration
// file, read through config.Load like serve reads it (the same defaults,
// validation and errors: a file serve would refuse is refused here too).
func spoolDir(path, dir string) (string, error) {
	switch {
	case dir != "" && path != "":
		return "", errors.New("give -config or -dir, not both")
	case dir != "":
		return dir, nil
	case path == "":
		return "", errors.New("give -config FILE (its [queue] dir is the spool) or -dir DIR")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return "", errors.New(config.MaskURLPasswords(err.Error()))
	}
	if !cfg.Relay.QueueEnabled() {
		return "", fmt.Errorf("%s: relay.mode is %q, which keeps no spool; the queue commands are for \"queue\" and \"hybrid\" mode (give -dir DIR for a spool left from one)", path, cfg.Relay.Mode)
	}
	return cfg.Queue.Dir, nil
}

func queueList(dir string, asJSON bool, stdout, stderr io.Writer) int {
	list, err := queue.List(dir)
	if err != nil {
		fmt.Fprintf(stderr, "gateway queue list: %v\n", err)
		return 1
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, in := range list {
			if err := enc.Encode(in); err != nil {
				return 1
			}
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSIZE\tATTEMPTS\tSENDER\tRECIPIENTS\tLAST ERROR")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t<%s>\t%s\t%s\n", in.ID, (time.Duration(in.Age) * time.Second).String(),
			in.Size, in.Attempts, in.Sender, strings.Join(in.Recipients, ","), in.LastError)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d message(s)\n", len(list))
	return 0
}

func queueShow(dir, id string, asJSON bool, stdout, stderr io.Writer) int {
	env, hdr, err := queue.Show(dir, id)
	if err != nil {
		fmt.Fprintf(stderr, "gateway queue show: %v\n", err)
		if errors.Is(err, queue.ErrNotFound) {
			return 1
		}
		return 1
	}
	if asJSON {
		type rcpt struct {
			queue.Recipient
			Status string `json:"status"`
			Reply  string `json:"reply,omitempty"`
		}
		out := struct {
			*queue.Envelope
			To          []rcpt    `json:"to"`
			Size        int64     `json:"size"`
			Attempts    int       `json:"attempts"`
			NextAttempt time.Time `json:"next_attempt"`
			LastError   string    `json:"last_error"`
			Headers     string    `json:"headers"`
		}{Envelope: env, Size: env.Size, Attempts: env.Attempts, NextAttempt: env.NextAttempt, LastError: env.LastError, Headers: string(hdr)}
		for _, r := range env.To {
			out.To = append(out.To, rcpt{Recipient: r, Status: statusName(r.Status), Reply: r.Reply})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 1
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("id", env.ID)
	row("sender", "<"+env.From+">")
	row("arrival", env.Arrival.Format(time.RFC3339))
	row("size", fmt.Sprint(env.Size))
	row("attempts", fmt.Sprint(env.Attempts))
	if !env.NextAttempt.IsZero() {
		row("next attempt", env.NextAttempt.Format(time.RFC3339))
	}
	row("last error", env.LastError)
	row("route", env.Route)
	row("user", env.User)
	row("listener", env.Listener)
	row("client", strings.TrimSpace(env.ClientIP+" "+env.Helo))
	row("gateway id", env.GatewayID)
	row("dsn", strings.TrimSpace(strings.Join([]string{prefixed("RET=", env.Ret), prefixed("ENVID=", env.EnvID)}, " ")))
	for _, r := range env.To {
		v := "<" + r.Addr + "> " + statusName(r.Status)
		if r.Reply != "" {
			v += ": " + r.Reply
		}
		row("recipient", v)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%s", hdr)
	return 0
}

func statusName(s string) string {
	if s == queue.StatusPending {
		return "pending"
	}
	return s
}

func prefixed(p, v string) string {
	if v == "" {
		return ""
	}
	return p + v
}
