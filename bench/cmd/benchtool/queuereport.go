package main

import (
	"fmt"
	"slices"
	"strconv"
)

// queueTable prints bench/queue.sh's comparison, when its configurations
// are among the results: per concurrency, queue mode's delivered rate
// over Postfix's (issue 14's target: at least 3× at c=50), the cost of
// durability (queue over proxy mode of the same run), and the accepted
// rate with the downstream down over the one with it up (target: ≥ 1).
func queueTable(order []string, groups map[string]*group) {
	find := func(config, c string) *group {
		for _, id := range order {
			g := groups[id]
			if g.first.kind == "RESULT" && g.first.keys["config"] == config && g.first.keys["c"] == c {
				return g
			}
		}
		return nil
	}
	var cs []int
	for _, id := range order {
		r := groups[id].first
		if r.kind == "RESULT" && r.keys["config"] == "gateway-queue" {
			if c, err := strconv.Atoi(r.keys["c"]); err == nil && !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
	}
	if len(cs) == 0 {
		return
	}
	slices.Sort(cs)
	div := func(a, b *group, fa, fb string) string {
		if a == nil || b == nil || b.median[fb] == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a.median[fa]/b.median[fb])
	}
	fmt.Println()
	fmt.Println("| c (10 KB) | queue delivered × Postfix delivered | queue accepted × proxy accepted | queue delivered × proxy delivered | accepted, downstream down × up | drain after the outage msg/s |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|")
	for _, c := range cs {
		k := strconv.Itoa(c)
		q, pf, px, down := find("gateway-queue", k), find("postfix", k), find("gateway-proxy", k), find("gateway-queue-down", k)
		drain := "–"
		if down != nil {
			drain = num(down.median["drain_mps"])
		}
		fmt.Printf("| %d | %s | %s | %s | %s | %s |\n", c, div(q, pf, "delivered_mps", "delivered_mps"), div(q, px, "accepted_mps", "accepted_mps"),
			div(q, px, "delivered_mps", "delivered_mps"), div(down, q, "accepted_mps", "accepted_mps"), drain)
	}
}
