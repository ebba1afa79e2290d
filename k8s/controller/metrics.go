package controller

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbkit/lbkit/allocator"
)

// metrics exposes the allocator's pool counts, read at scrape time, and
// the state of the configuration.
type metrics struct {
	alloc  *allocator.Allocator
	total  *prometheus.Desc
	inUse  *prometheus.Desc
	loaded prometheus.Gauge
	stale  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, alloc *allocator.Allocator) (*metrics, error) {
	m := &metrics{
		alloc: alloc,
		total: prometheus.NewDesc("lbkit_allocator_addresses_total",
			"Addresses a pool can hand out, per family.", []string{"pool", "family"}, nil),
		inUse: prometheus.NewDesc("lbkit_allocator_addresses_in_use",
			"Addresses of a pool held by services, per family.", []string{"pool", "family"}, nil),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lbkit_config_loaded",
			Help: "1 once a configuration has been loaded."}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lbkit_config_stale",
			Help: "1 when the latest configuration has errors and the last good one stays in force."}),
	}
	for _, c := range []prometheus.Collector{m, m.loaded, m.stale} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("controller: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.total
	ch <- m.inUse
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.alloc.Stats() {
		for _, f := range []struct {
			name string
			st   allocator.FamilyStats
		}{{"ipv4", s.IPv4}, {"ipv6", s.IPv6}} {
			if f.st.Total == nil {
				continue
			}
			total, _ := f.st.Total.Float64()
			ch <- prometheus.MustNewConstMetric(m.total, prometheus.GaugeValue, total, s.Pool, f.name)
			ch <- prometheus.MustNewConstMetric(m.inUse, prometheus.GaugeValue, float64(f.st.InUse), s.Pool, f.name)
		}
	}
}

// SetConfigState records whether a configuration is loaded and whether the
// newest one was rejected (the last good one then stays in force).
func (c *Controller) SetConfigState(loaded, stale bool) {
	if c.metrics == nil {
		return
	}
	c.metrics.loaded.Set(b2f(loaded))
	c.metrics.stale.Set(b2f(stale))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
