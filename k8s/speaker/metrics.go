package speaker

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lbkit/lbkit/announce"
)

// metrics are the speaker's Prometheus metrics.
type metrics struct {
	announced *prometheus.GaugeVec   // service, protocol, ip
	services  *prometheus.GaugeVec   // protocol
	failures  *prometheus.CounterVec // protocol
	loaded    prometheus.Gauge
	stale     prometheus.Gauge
	scrape    *scrapeCollector
}

func newMetrics(reg prometheus.Registerer, bgp func() []BGPSessionStatus, l2 func() L2Stats) (*metrics, error) {
	m := &metrics{
		announced: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lbkit_speaker_announced",
			Help: "1 for each address this node announces, by service and protocol."}, []string{"service", "protocol", "ip"}),
		services: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lbkit_speaker_announced_services",
			Help: "Services this node announces, by protocol."}, []string{"protocol"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lbkit_speaker_announce_failures_total",
			Help: "Announcements and withdrawals an announcer refused, by protocol."}, []string{"protocol"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lbkit_speaker_config_loaded",
			Help: "1 once a configuration has been loaded."}),
		stale: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lbkit_speaker_config_stale",
			Help: "1 when the latest configuration has errors and the last good one stays in force."}),
		scrape: newScrapeCollector(bgp, l2),
	}
	m.services.WithLabelValues(ProtocolL2)
	m.services.WithLabelValues(ProtocolBGP)
	for _, c := range []prometheus.Collector{m.announced, m.services, m.failures, m.loaded, m.stale, m.scrape} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("speaker: register metrics: %w", err)
		}
	}
	return m, nil
}

// set moves the metrics of service key from state old to state next.
func (m *metrics) set(key string, old, next svcState) {
	m.move(key, ProtocolL2, old.l2, next.l2)
	m.move(key, ProtocolBGP, old.bgp, next.bgp)
}

func (m *metrics) move(key, proto string, old, next *announce.Announcement) {
	if old != nil {
		for _, ip := range old.Addresses {
			m.announced.DeleteLabelValues(key, proto, ip.String())
		}
	}
	if next != nil {
		for _, ip := range next.Addresses {
			m.announced.WithLabelValues(key, proto, ip.String()).Set(1)
		}
	}
	switch {
	case next != nil && old == nil:
		m.services.WithLabelValues(proto).Inc()
	case old != nil && next == nil:
		m.services.WithLabelValues(proto).Dec()
	}
}

// scrapeCollector reads the announcers' status at scrape time.
type scrapeCollector struct {
	bgp         func() []BGPSessionStatus
	l2          func() L2Stats
	sessionUp   *prometheus.Desc
	prefixes    *prometheus.Desc
	l2Requests  *prometheus.Desc
	l2Replies   *prometheus.Desc
	l2Announces *prometheus.Desc
}

func newScrapeCollector(bgp func() []BGPSessionStatus, l2 func() L2Stats) *scrapeCollector {
	return &scrapeCollector{
		bgp: bgp, l2: l2,
		sessionUp: prometheus.NewDesc("lbkit_speaker_bgp_session_up",
			"1 while the BGP session to the peer is established.", []string{"peer", "address"}, nil),
		prefixes: prometheus.NewDesc("lbkit_speaker_bgp_announced_prefixes",
			"Prefixes advertised to the peer.", []string{"peer", "address"}, nil),
		l2Requests: prometheus.NewDesc("lbkit_speaker_l2_requests_received_total",
			"ARP requests and NDP solicitations received.", []string{"protocol"}, nil),
		l2Replies: prometheus.NewDesc("lbkit_speaker_l2_responses_sent_total",
			"ARP replies and NDP advertisements sent in answer.", []string{"protocol"}, nil),
		l2Announces: prometheus.NewDesc("lbkit_speaker_l2_gratuitous_sent_total",
			"Gratuitous ARP and unsolicited NA packets sent.", []string{"protocol"}, nil),
	}
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessionUp, c.prefixes, c.l2Requests, c.l2Replies, c.l2Announces} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.bgp != nil {
		for _, s := range c.bgp() {
			ch <- prometheus.MustNewConstMetric(c.sessionUp, prometheus.GaugeValue, b2f(s.Established), s.Peer, s.Address.String())
			ch <- prometheus.MustNewConstMetric(c.prefixes, prometheus.GaugeValue, float64(s.PrefixesSent), s.Peer, s.Address.String())
		}
	}
	if c.l2 != nil {
		st := c.l2()
		for _, x := range []struct {
			d        *prometheus.Desc
			arp, ndp uint64
		}{
			{c.l2Requests, st.ARPRequests, st.NDPSolicitations},
			{c.l2Replies, st.ARPReplies, st.NDPAdvertisements},
			{c.l2Announces, st.GratuitousARP, st.UnsolicitedNA},
		} {
			ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.arp), "arp")
			ch <- prometheus.MustNewConstMetric(x.d, prometheus.CounterValue, float64(x.ndp), "ndp")
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
