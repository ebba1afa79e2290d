package main

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSpeakerPeers(t *testing.T) {
	labels := map[string]string{"app.kubernetes.io/name": "lbkit", "app.kubernetes.io/component": "speaker"}
	pod := func(name, node, podIP, hostIP string, mods ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: node, HostNetwork: true},
			Status:     corev1.PodStatus{PodIP: podIP, HostIP: hostIP},
		}
		for _, m := range mods {
			m(p)
		}
		return p
	}
	now := metav1.Now()
	client := fake.NewClientset(
		pod("s1", "node1", "192.0.2.11", "192.0.2.11"),                                                     // self
		pod("s3", "node3", "192.0.2.13", "192.0.2.13"),                                                     // peer
		pod("s2", "node2", "", "192.0.2.12"),                                                               // starting: host IP
		pod("s4", "node4", "2001:db8::14", "2001:db8::14"),                                                 // IPv6 peer
		pod("s5", "node5", "", ""),                                                                         // not scheduled yet
		pod("s6", "node6", "192.0.2.16", "192.0.2.16", func(p *corev1.Pod) { p.DeletionTimestamp = &now }), // going away
		pod("s7", "node7", "192.0.2.17", "192.0.2.17", func(p *corev1.Pod) { p.Labels = nil }),             // not a speaker
	)
	o := speakerOptions{nodeName: "node1", mlBind: netip.MustParseAddrPort("192.0.2.11:7946"),
		mlLabels: "app.kubernetes.io/name=lbkit,app.kubernetes.io/component=speaker"}
	o.namespace = "metallb-system"
	got, err := speakerPeers(context.Background(), client, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.12:7946", "192.0.2.13:7946", "[2001:db8::14]:7946"}
	if !slices.Equal(got, want) {
		t.Errorf("peers = %v, want %v", got, want)
	}
}
