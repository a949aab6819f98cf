package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/smtpgateway/gateway/heloguard"
	"github.com/smtpgateway/gateway/internal/errwriter"
)

// Exit status of helo-report.
const (
	reportOK      = 0 // the report covers every helo verdict line
	reportPartial = 1 // some helo verdict lines could not be read, or there was none at all
	reportUsage   = 2 // bad flags, an unknown profile, a file that cannot be read
)

// heloReportUsage is the verb's one-line usage.
const heloReportUsage = "usage: gateway helo-report [-profile NAME] [-json] [-top N] [LOGFILE...]"

// maxLogLine bounds one log line; a longer one is skipped (and reported
// if it looks like a helo verdict).
const maxLogLine = 1 << 20

// maxProblems bounds the unreadable lines listed on stderr.
const maxProblems = 10

// heloReport reads the gateway's own log ([log] format text or JSON, from
// the files named or standard input) and tells, for each profile, which
// sessions it would have refused: the dry run of switching helo.profile,
// from the would_refuse field of the helo verdict lines.
func heloReport(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("helo-report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "report on this profile only (cpanel, postfix, strict or monitor; default: all)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	top := fs.Int("top", 10, "how many client addresses and HELO names to list per profile")
	fs.Usage = func() {
		fmt.Fprintln(stderr, heloReportUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return reportUsage
	}
	profiles := heloguard.Profiles()
	if *profile != "" {
		if !slices.Contains(profiles, *profile) {
			fmt.Fprintf(stderr, "gateway helo-report: unknown profile %q (want %s)\n", *profile, strings.Join(profiles, ", "))
			return reportUsage
		}
		profiles = []string{*profile}
	}
	if *top < 1 {
		fmt.Fprintf(stderr, "gateway helo-report: -top %d: want at least 1\n", *top)
		return reportUsage
	}

	agg := newHELOAggregate()
	if fs.NArg() == 0 {
		agg.read("(stdin)", stdin)
	}
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "gateway helo-report: %v\n", err)
			return reportUsage
		}
		err = agg.read(name, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "gateway helo-report: %s: %v\n", name, err)
			return reportUsage
		}
	}

	rep := agg.report(profiles, *top)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "gateway helo-report: %v\n", err)
			return reportUsage
		}
	} else if err := rep.writeText(stdout); err != nil {
		fmt.Fprintf(stderr, "gateway helo-report: %v\n", err)
		return reportUsage
	}

	status := reportOK
	for i, p := range agg.problems {
		if i == maxProblems {
			fmt.Fprintf(stderr, "gateway helo-report: ... and %d more unreadable helo verdict lines\n", len(agg.problems)-maxProblems)
			break
		}
		fmt.Fprintf(stderr, "gateway helo-report: %s\n", p)
	}
	if len(agg.problems) > 0 {
		status = reportPartial
	}
	if agg.old > 0 {
		fmt.Fprintf(stderr, "gateway helo-report: %d helo verdict lines have no would_refuse field (written by an older gateway); not counted\n", agg.old)
	}
	if agg.verdicts == 0 {
		fmt.Fprintln(stderr, `gateway helo-report: no helo verdict line with would_refuse found: is this the gateway's log at [log] level "info" or "debug", with a [helo] policy?`)
		status = reportPartial
	}
	return status
}

// heloSession is what the log says about one connection that some
// profile would refuse: its client and, per profile, the checks and the
// HELO names it would be refused for (a session may greet more than once).
type heloSession struct {
	client string
	would  map[string]*heloRefusal // by profile
	fixes  map[string]string       // check -> fix
}

// heloRefusal is why one profile would refuse one session.
type heloRefusal struct {
	checks []string // each once, in order of appearance
	helos  []string // at most maxSeen
}

// heloAggregate collects the helo verdict lines of one or more logs.
type heloAggregate struct {
	order    []string                // session keys in order of appearance
	sessions map[string]*heloSession // by conn id; nil for a session no profile would refuse
	verdicts int                     // helo verdict lines counted
	old      int                     // helo verdict lines without would_refuse
	problems []string                // "file:line: why"
	first    string                  // time of the first and last counted line
	last     string
}

func newHELOAggregate() *heloAggregate {
	return &heloAggregate{sessions: map[string]*heloSession{}}
}

// read adds one log. Lines that are not helo verdicts are ignored; a helo
// verdict line that cannot be read is a problem, and the rest is read.
// The error is for the reader alone.
func (a *heloAggregate) read(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64*1024)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br)
		if len(line) > 0 {
			a.line(name, n, line, tooLong)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine returns the next line without its newline; a line longer than
// maxLogLine is cut there and tooLong is set (the rest is consumed).
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLogLine {
			tooLong = true
			if room := maxLogLine - len(line); room > 0 {
				line = append(line, chunk[:room]...)
			}
		} else {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, tooLong, err
	}
}

func (a *heloAggregate) line(name string, n int, line []byte, tooLong bool) {
	// Cheap filter first: most lines are not verdicts.
	if !strings.Contains(string(line), "helo verdict") {
		return
	}
	where := fmt.Sprintf("%s:%d", name, n)
	if tooLong {
		a.problems = append(a.problems, where+": line longer than 1 MiB, skipped")
		return
	}
	rec, err := parseLogLine(line)
	if err != nil {
		a.problems = append(a.problems, where+": "+err.Error())
		return
	}
	if rec["msg"] != "helo verdict" {
		return // another line that mentions the words, e.g. in a HELO name
	}
	field, ok := rec["would_refuse"]
	if !ok {
		a.old++
		return
	}
	would, err := heloguard.ParseWouldRefuse(field)
	if err != nil {
		a.problems = append(a.problems, where+": "+err.Error())
		return
	}
	a.verdicts++
	if t := rec["time"]; t != "" {
		if a.first == "" {
			a.first = t
		}
		a.last = t
	}
	key := rec["conn"]
	if key == "" {
		key = where // no session id: each line its own session
	}
	s, seen := a.sessions[key]
	if !seen {
		a.order = append(a.order, key)
		a.sessions[key] = nil // most sessions: nothing more to keep
	}
	if len(would) == 0 {
		return
	}
	if s == nil {
		s = &heloSession{client: rec["client_ip"], would: map[string]*heloRefusal{}, fixes: map[string]string{}}
		a.sessions[key] = s
	}
	helo := rec["helo"]
	for _, pr := range would {
		r := s.would[pr.Profile]
		if r == nil {
			r = &heloRefusal{}
			s.would[pr.Profile] = r
		}
		if len(r.helos) < maxSeen && !slices.Contains(r.helos, helo) {
			r.helos = append(r.helos, helo)
		}
		for _, c := range pr.Checks {
			if !slices.Contains(r.checks, c) {
				r.checks = append(r.checks, c)
			}
			if fix := rec["fix_"+c]; fix != "" {
				if _, ok := s.fixes[c]; !ok {
					s.fixes[c] = fix
				}
			}
		}
	}
}

// heloReportOut is the report, as printed with -json.
type heloReportOut struct {
	Sessions int                `json:"sessions"` // sessions with a helo verdict
	Verdicts int                `json:"verdicts"` // helo verdict lines
	From     string             `json:"from,omitempty"`
	To       string             `json:"to,omitempty"`
	Profiles []heloProfileStats `json:"profiles"`
}

// heloProfileStats is one profile's part of the report.
type heloProfileStats struct {
	Profile   string         `json:"profile"`
	Refused   int            `json:"refused"` // sessions that would have been refused
	ByCheck   []heloCount    `json:"by_check"`
	Clients   []heloTopEntry `json:"clients"`
	HELONames []heloTopEntry `json:"helo_names"`
}

// heloCount is a check and the sessions it would refuse.
type heloCount struct {
	Check    string `json:"check"`
	Sessions int    `json:"sessions"`
}

// heloTopEntry is a client address or a HELO name, with the sessions it
// would have lost, the checks, the other side (the HELO names a client
// used, the clients that used a name) and the fix for each check, in the
// words of check-helo.
type heloTopEntry struct {
	Name     string    `json:"name"`
	Sessions int       `json:"sessions"`
	Checks   []string  `json:"checks"`
	Seen     []string  `json:"seen"` // HELO names of a client, clients of a HELO name (at most 5)
	Fixes    []heloFix `json:"fixes,omitempty"`
}

// heloFix is the fix for one check.
type heloFix struct {
	Check string `json:"check"`
	Fix   string `json:"fix"`
}

// maxSeen bounds heloTopEntry.Seen.
const maxSeen = 5

func (a *heloAggregate) report(profiles []string, top int) heloReportOut {
	out := heloReportOut{Sessions: len(a.order), Verdicts: a.verdicts, From: a.first, To: a.last}
	checkOrder := heloguard.Checks()
	rank := func(c string) int {
		if c == heloguard.CheckDenyNames {
			return -1
		}
		if i := slices.Index(checkOrder, c); i >= 0 {
			return i
		}
		return len(checkOrder) // a check this binary does not know
	}
	for _, prof := range profiles {
		st := heloProfileStats{Profile: prof, ByCheck: []heloCount{}, Clients: []heloTopEntry{}, HELONames: []heloTopEntry{}}
		byCheck := map[string]int{}
		clients := map[string]*heloTopEntry{}
		names := map[string]*heloTopEntry{}
		var clientOrder, nameOrder []string
		add := func(m map[string]*heloTopEntry, order *[]string, key string, s *heloSession, checks, seen []string) {
			e := m[key]
			if e == nil {
				e = &heloTopEntry{Name: key, Checks: []string{}, Seen: []string{}}
				m[key] = e
				*order = append(*order, key)
			}
			e.Sessions++
			for _, c := range checks {
				if !slices.Contains(e.Checks, c) {
					e.Checks = append(e.Checks, c)
					if fix := s.fixes[c]; fix != "" {
						e.Fixes = append(e.Fixes, heloFix{Check: c, Fix: fix})
					}
				}
			}
			for _, v := range seen {
				if len(e.Seen) < maxSeen && !slices.Contains(e.Seen, v) {
					e.Seen = append(e.Seen, v)
				}
			}
		}
		for _, key := range a.order {
			s := a.sessions[key]
			if s == nil || s.would[prof] == nil {
				continue
			}
			checks, helos := s.would[prof].checks, s.would[prof].helos
			st.Refused++
			for _, c := range checks {
				byCheck[c]++
			}
			client := s.client
			if client == "" {
				client = "unknown"
			}
			add(clients, &clientOrder, client, s, checks, helos)
			for _, h := range helos {
				add(names, &nameOrder, h, s, checks, []string{client})
			}
		}
		for c, n := range byCheck {
			st.ByCheck = append(st.ByCheck, heloCount{Check: c, Sessions: n})
		}
		sort.Slice(st.ByCheck, func(i, j int) bool {
			x, y := st.ByCheck[i], st.ByCheck[j]
			if x.Sessions != y.Sessions {
				return x.Sessions > y.Sessions
			}
			if rank(x.Check) != rank(y.Check) {
				return rank(x.Check) < rank(y.Check)
			}
			return x.Check < y.Check
		})
		st.Clients = topEntries(clients, clientOrder, top)
		st.HELONames = topEntries(names, nameOrder, top)
		out.Profiles = append(out.Profiles, st)
	}
	return out
}

// topEntries returns the n entries with the most sessions; ties keep the
// order of first appearance.
func topEntries(m map[string]*heloTopEntry, order []string, n int) []heloTopEntry {
	out := make([]heloTopEntry, 0, len(order))
	for _, k := range order {
		out = append(out, *m[k])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sessions > out[j].Sessions })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// writeText prints the report for a terminal. Names from the log are
// printed with unprintable bytes escaped: a HELO name is the client's.
func (r heloReportOut) writeText(w io.Writer) error {
	ew := &errwriter.Writer{W: w}
	ew.Printf("%d sessions with a helo verdict (%d verdict lines)", r.Sessions, r.Verdicts)
	if r.From != "" {
		ew.Printf(", %s to %s", r.From, r.To)
	}
	ew.Printf("\n")
	for _, p := range r.Profiles {
		ew.Printf("\nprofile %s: %d of %d sessions would have been refused\n", p.Profile, p.Refused, r.Sessions)
		if p.Refused == 0 {
			continue
		}
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CHECK\tSESSIONS")
		for _, c := range p.ByCheck {
			fmt.Fprintf(tw, "  %s\t%d\n", c.Check, c.Sessions)
		}
		tw.Flush()
		ew.Printf("  top clients:\n")
		writeEntries(ew, p.Clients, "HELO")
		ew.Printf("  top HELO names:\n")
		writeEntries(ew, p.HELONames, "from")
	}
	return ew.Err()
}

func writeEntries(ew *errwriter.Writer, list []heloTopEntry, seenLabel string) {
	for _, e := range list {
		seen := make([]string, len(e.Seen))
		for i, s := range e.Seen {
			seen[i] = safeText(s)
		}
		ew.Printf("    %s  %d sessions  %s: %s  checks: %s\n", safeText(e.Name), e.Sessions, seenLabel,
			strings.Join(seen, ", "), strings.Join(e.Checks, ","))
		for _, f := range e.Fixes {
			ew.Printf("      fix %s: %s\n", f.Check, safeText(f.Fix))
		}
	}
}

// safeText quotes a value from the log if it is empty or has anything but
// printable ASCII other than a quote, so that a client cannot write to
// the operator's terminal.
func safeText(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
