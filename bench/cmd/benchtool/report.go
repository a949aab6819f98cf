package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// A record is one result line: KIND key=value ...
type record struct {
	kind   string
	keys   map[string]string  // identifying fields: config, c, size and text values
	values map[string]float64 // measured fields
}

// keyFields identify a configuration even though they are numeric.
var keyFields = map[string]bool{"config": true, "c": true, "size": true}

func parseRecord(line string) (record, bool) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0][0] < 'A' || f[0][0] > 'Z' || strings.ToUpper(f[0]) != f[0] {
		return record{}, false
	}
	r := record{kind: f[0], keys: map[string]string{}, values: map[string]float64{}}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "rep" {
			continue
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil && !keyFields[k] {
			r.values[k] = x
		} else {
			r.keys[k] = v
		}
	}
	return r, true
}

func (r record) id() string {
	ks := make([]string, 0, len(r.keys))
	for k, v := range r.keys {
		ks = append(ks, k+"="+v)
	}
	slices.Sort(ks)
	return r.kind + " " + strings.Join(ks, " ")
}

// group is the records of one configuration and their medians.
type group struct {
	first  record
	n      int
	median map[string]float64
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// runReport reads result lines (file arguments) and prints the median of
// every measured field per configuration as MEDIAN lines and Markdown
// tables with ratios to the ceiling and to Postfix of the same run.
func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	fs.Parse(args)
	var order []string
	recs := map[string][]record{}
	for _, path := range fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			r, ok := parseRecord(sc.Text())
			if !ok {
				continue
			}
			id := r.id()
			if _, seen := recs[id]; !seen {
				order = append(order, id)
			}
			recs[id] = append(recs[id], r)
		}
		f.Close()
	}
	groups := map[string]*group{}
	for _, id := range order {
		rs := recs[id]
		g := &group{first: rs[0], n: len(rs), median: map[string]float64{}}
		for k := range rs[0].values {
			var xs []float64
			for _, r := range rs {
				if v, ok := r.values[k]; ok {
					xs = append(xs, v)
				}
			}
			g.median[k] = median(xs)
		}
		groups[id] = g
	}
	// Machine-readable medians.
	fmt.Println("```")
	for _, id := range order {
		g := groups[id]
		ks := make([]string, 0, len(g.median))
		for k := range g.median {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		var b strings.Builder
		fmt.Fprintf(&b, "MEDIAN %s reps=%d", strings.TrimPrefix(id, ""), g.n)
		for _, k := range ks {
			fmt.Fprintf(&b, " %s=%s", k, num(g.median[k]))
		}
		fmt.Println(b.String())
	}
	fmt.Println("```")
	fmt.Println()

	lookup := func(kind, config, c, size string) *group {
		for _, id := range order {
			g := groups[id]
			r := g.first
			if r.kind == kind && r.keys["config"] == config && r.keys["c"] == c && r.keys["size"] == size {
				return g
			}
		}
		return nil
	}
	ratio := func(v float64, ref *group, field string) string {
		if ref == nil || ref.median[field] == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", v/ref.median[field])
	}

	fmt.Println("| configuration | c | size | accepted msg/s | delivered msg/s | delivered × ceiling | delivered × Postfix | peak RSS MB | CPU s / 1000 msgs |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, id := range order {
		g := groups[id]
		r := g.first
		if r.kind != "RESULT" {
			continue
		}
		c, size := r.keys["c"], r.keys["size"]
		ceil := lookup("RESULT", "ceiling", c, size)
		pf := lookup("RESULT", "postfix", c, size)
		d := g.median["delivered_mps"]
		rss := "–"
		if v, ok := g.median["rss_kb"]; ok && v > 0 {
			rss = fmt.Sprintf("%.1f", v/1024)
		}
		cpu := "–"
		if v, ok := g.median["cpu_s_per_1k"]; ok && r.keys["config"] != "ceiling" {
			cpu = fmt.Sprintf("%.2f", v)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.keys["config"], c, sizeName(size),
			num(g.median["accepted_mps"]), num(d), ratio(d, ceil, "delivered_mps"), ratio(d, pf, "delivered_mps"), rss, cpu)
	}
	fmt.Println()

	var ceilLat *group
	for _, id := range order {
		if g := groups[id]; g.first.kind == "LAT" && g.first.keys["config"] == "ceiling" {
			ceilLat = g
		}
	}
	fmt.Println("| configuration (c=1, 10 KB) | p50 ms | p99 ms | p50 added over ceiling ms | p50 × Postfix |")
	fmt.Println("|---|---:|---:|---:|---:|")
	var pfLat *group
	for _, id := range order {
		if g := groups[id]; g.first.kind == "LAT" && g.first.keys["config"] == "postfix" {
			pfLat = g
		}
	}
	for _, id := range order {
		g := groups[id]
		if g.first.kind != "LAT" {
			continue
		}
		added := "–"
		if ceilLat != nil {
			added = fmt.Sprintf("%+.3f", g.median["p50_ms"]-ceilLat.median["p50_ms"])
		}
		fmt.Printf("| %s | %.3f | %.3f | %s | %s |\n", g.first.keys["config"], g.median["p50_ms"], g.median["p99_ms"], added, ratio(g.median["p50_ms"], pfLat, "p50_ms"))
	}
	queueTable(order, groups)
	return nil
}

func sizeName(s string) string {
	n, err := strconv.Atoi(s)
	if err != nil {
		return s
	}
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return s
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}
