package metrics

import (
	"testing"
	"time"

	"github.com/smtpgateway/gateway/queue"
)

func TestRegisterQueue(t *testing.T) {
	m := New()
	m.RegisterQueue(func() queue.Stats {
		return queue.Stats{
			Messages: 3, Bytes: 30000, OldestAge: 90 * time.Second,
			Deliveries: map[string]uint64{"delivered": 7, "deferred": 2},
			DSNs:       map[string]uint64{"failed": 1},
		}
	})
	for _, tc := range []struct {
		name, series string
		want         float64
	}{
		{"delivered", `gateway_queue_deliveries_total{outcome="delivered"}`, 7},
		{"expired at zero", `gateway_queue_deliveries_total{outcome="expired"}`, 0},
		{"dsn failed", `gateway_queue_dsn_total{action="failed"}`, 1},
		{"bytes", `gateway_queue_bytes`, 30000},
		{"messages", `gateway_queue_messages`, 3},
		{"oldest age", `gateway_queue_oldest_age_seconds`, 90},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mfs, err := m.Registry.Gather()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, mf := range mfs {
				for _, mt := range mf.GetMetric() {
					name := mf.GetName()
					if len(mt.GetLabel()) == 1 {
						name += `{` + mt.GetLabel()[0].GetName() + `="` + mt.GetLabel()[0].GetValue() + `"}`
					}
					if name != tc.series {
						continue
					}
					found = true
					v := mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
					if v != tc.want {
						t.Errorf("%s = %v, want %v", tc.series, v, tc.want)
					}
				}
			}
			if !found {
				t.Errorf("%s not exported", tc.series)
			}
		})
	}
	var nilM *Metrics
	nilM.RegisterQueue(func() queue.Stats { return queue.Stats{} })
}
